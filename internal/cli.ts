/**
 * What every command line shares, so each behaves like the tools people already know: `--help`
 * and `-h` print the command's own usage on stdout and exit 0; an unknown flag or a bad value is
 * one line on stderr naming it, exit 2; progress goes to stderr only when stderr is a terminal,
 * and is cleared before any other line is written, so it never shares a line with a result.
 * Flags are parsed by Node's `parseArgs` (`node:util`), strictly.
 * @module
 */
import { parseArgs } from "node:util";

/** Exit code of a run where some input failed (the rest were done). */
export const EXIT_FAILED = 1;
/** Exit code of a command line that is wrong: unknown flag, bad value, missing argument. */
export const EXIT_USAGE = 2;

/** A command-line mistake; its message is one line that names the flag or argument. */
export class UsageError extends Error {
  /** The flag or argument at fault, when one is (`--bogus`). */
  readonly flag?: string;
  /** What is wrong with it, without its name (`unknown flag; see --help`). */
  readonly problem: string;
  /**
   * @param problem what is wrong; with `flag`, the message is `flag: problem`
   * @param flag the flag at fault
   */
  constructor(problem: string, flag?: string) {
    super(flag === undefined ? problem : `${flag}: ${problem}`);
    this.name = "UsageError";
    this.flag = flag;
    this.problem = problem;
  }
}

/** One flag as `parseArgs` takes it. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
}

/** A command's flags by name (without the dashes). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The value type of a flag. */
type FlagValue<S extends FlagSpec> = S["type"] extends "boolean"
  ? (S["multiple"] extends true ? boolean[] : boolean)
  : (S["multiple"] extends true ? string[] : string);

/** The values a command line gave (`undefined` when a flag is absent). */
export type FlagValues<O extends FlagSpecs> = { [K in keyof O]?: FlagValue<O[K]> };

/** A parsed command line. */
export interface CommandLine<O extends FlagSpecs> {
  readonly values: FlagValues<O>;
  readonly positionals: string[];
}

/** Options for {@linkcode parseCommandLine}. */
export interface ParseOptions {
  /** Whether arguments without a dash are taken (files, subcommands). @default {false} */
  readonly positionals?: boolean;
}

/**
 * Parses a command line strictly, with `--help`/`-h` understood everywhere.
 *
 * @param args the arguments after the command
 * @param options the command's flags
 * @param parse whether positionals are taken
 * @returns the values and positionals, or `"help"` when `--help` or `-h` is among the flags
 *   (even beside a mistake: asking for help is answered first)
 * @throws {UsageError} naming the first unknown flag, a missing value or an unexpected argument
 * @example
 * ```ts
 * const line = parseCommandLine(["--json", "a.jpg"], { json: { type: "boolean" } }, {
 *   positionals: true,
 * });
 * if (line !== "help") line.values.json; // true
 * ```
 */
export function parseCommandLine<const O extends FlagSpecs>(
  args: readonly string[],
  options: O,
  parse: ParseOptions = {},
): CommandLine<O> | "help" {
  const end = args.indexOf("--");
  const flags = end < 0 ? args : args.slice(0, end);
  if (flags.some((a) => a === "--help" || a === "-h")) return "help";
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: options as Record<string, FlagSpec>,
      allowPositionals: parse.positionals ?? false,
      strict: true,
    });
    return { values: values as FlagValues<O>, positionals };
  } catch (error) {
    throw usageError(error as Error & { code?: string });
  }
}

/** `parseArgs`' error as one line that names the flag and says what to do. */
function usageError(error: Error & { code?: string }): UsageError {
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(" ")[0];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError("unknown flag; see --help", flag);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError("unexpected argument; see --help", JSON.stringify(quoted));
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(error.message)) {
        return new UsageError("takes no value", flag);
      }
      if (/ambiguous/.test(error.message)) {
        return new UsageError(`needs a value (write ${flag}=VALUE for one starting with -)`, flag);
      }
      return new UsageError("needs a value", flag);
    default:
      return new UsageError(error.message.split("\n")[0]);
  }
}

/**
 * Parses an integer flag within `[min, max]`.
 * @throws {UsageError} naming the flag, the range and the text given
 */
export function integerFlag(flag: string, text: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`, flag);
  }
  return n;
}

/** What a command's body gets. */
export interface CommandContext<O extends FlagSpecs> extends CommandLine<O> {
  /** The command's name, for message prefixes (`recognize`). */
  readonly name: string;
}

/** A command: its name, usage and flags. */
export interface CommandSpec<O extends FlagSpecs> {
  /** As in `deno task NAME`. */
  readonly name: string;
  /** The whole `--help` text. */
  readonly usage: string;
  readonly options: O;
  /** @default {false} */
  readonly positionals?: boolean;
}

/**
 * The command's usage text, once it is known to name every flag the command takes: the text is
 * written by hand beside the flag table, so a flag added to one and not the other would be a
 * flag no user can find. `--help` of every task is run by `tests/cli_conventions_test.ts`, so
 * such a slip fails there, not in front of a user.
 * @throws {Error} naming the flags the usage leaves out (a programming error, not a usage one)
 */
export function checkedUsage<O extends FlagSpecs>(spec: CommandSpec<O>): string {
  const missing = Object.keys(spec.options).filter((name) =>
    !new RegExp(`--${name}(?![\\w-])`).test(spec.usage)
  );
  if (missing.length > 0) {
    throw new Error(
      `${spec.name}: the usage text does not mention ${missing.map((m) => `--${m}`).join(", ")}`,
    );
  }
  return spec.usage;
}

/** Where a command's own lines go (tests pass their own). */
export interface CommandIo {
  /** @default {console.log} */
  readonly out?: (line: string) => void;
  /** @default {console.error} */
  readonly err?: (line: string) => void;
}

/**
 * Runs a command: parses its flags, answers `--help`, and turns a {@linkcode UsageError} (from
 * parsing or from the body) into one line on stderr and {@linkcode EXIT_USAGE}.
 *
 * @param spec the command
 * @param args the arguments after the command
 * @param body the command itself; returns its exit code
 * @param io where the usage and the error line go
 * @returns the exit code
 * @example
 * ```ts
 * const spec = { name: "hello", usage: "usage: hello [--loud]", options: { loud: { type: "boolean" } } } as const;
 * Deno.exit(await runCli(spec, Deno.args, ({ values }) => (console.log(values.loud ? "HI" : "hi"), 0)));
 * ```
 */
export async function runCli<const O extends FlagSpecs>(
  spec: CommandSpec<O>,
  args: readonly string[],
  body: (context: CommandContext<O>) => number | Promise<number>,
  io: CommandIo = {},
): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  try {
    const line = parseCommandLine(args, spec.options, { positionals: spec.positionals });
    if (line === "help") {
      out(checkedUsage(spec));
      return 0;
    }
    return await body({ ...line, name: spec.name });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`${spec.name}: ${error.message}`);
    return EXIT_USAGE;
  }
}

/**
 * Why a file could not be read, in a few words a user knows (`no such file or directory`), not
 * the OS error with its syscall (`No such file or directory (os error 2): readfile 'x'`).
 * @param error what a read threw
 * @returns the reason, to follow the file's name
 */
export function readFailureReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory, not a file";
  if (error instanceof Deno.errors.NotADirectory) return "not a directory";
  const message = error instanceof Error ? error.message : String(error);
  return `cannot be read: ${message}`;
}

/** A stream that may be a terminal (`Deno.stderr`, or a test's stand-in). */
export interface TerminalStream {
  isTerminal(): boolean;
  writeSync(bytes: Uint8Array): number;
}

/** Options for {@linkcode batchConsole}. */
export interface BatchConsoleOptions {
  /** Where results go. @default {Deno.stdout} */
  readonly stdout?: Pick<TerminalStream, "writeSync">;
  /** Where errors and progress go. @default {Deno.stderr} */
  readonly stderr?: TerminalStream;
  /** Runs shorter than this show no progress. @default {1} */
  readonly quietBelow?: number;
  /** Width of the bar in characters. @default {30} */
  readonly barChars?: number;
}

/** What a batch command writes through: results, per-input errors and a progress bar. */
export interface BatchConsole {
  /** A result line on stdout (the bar is cleared first, then redrawn below it). */
  out(line: string): void;
  /** A line on stderr (the bar is cleared first, then redrawn below it). */
  err(line: string): void;
  /** `done` of `total` are finished. */
  tick(done: number): void;
  /** Clears the bar for good; call it before the summary. */
  end(): void;
}

/** A terminal's carriage return + "erase the whole line" (an ANSI control, not a colour). */
const CLEAR_LINE = "\r\x1b[2K";

/**
 * The console of a batch over `total` inputs: progress on stderr only when stderr is a terminal
 * (nothing at all in a pipe or a log), and never on the same line as a result or an error.
 *
 * @param label the bar's prefix (the command's name)
 * @param total how many inputs
 * @param options streams and bar shape
 * @returns the console
 * @example
 * ```ts
 * const io = batchConsole("recognize", files.length);
 * for (const [i, f] of files.entries()) { io.out(`${f}:Paul`); io.tick(i + 1); }
 * io.end();
 * ```
 */
export function batchConsole(
  label: string,
  total: number,
  options: BatchConsoleOptions = {},
): BatchConsole {
  const stdout = options.stdout ?? Deno.stdout;
  const stderr = options.stderr ?? Deno.stderr;
  const show = stderr.isTerminal() && total >= (options.quietBelow ?? 1);
  const width = options.barChars ?? 30;
  let bar = "";
  const draw = (text: string) => writeAllSync(stderr, text);
  const around = (write: () => void) => {
    if (bar !== "") draw(CLEAR_LINE);
    write();
    if (bar !== "") draw(bar);
  };
  return {
    out: (line) => around(() => writeAllSync(stdout, `${line}\n`)),
    err: (line) => around(() => writeAllSync(stderr, `${line}\n`)),
    tick(done) {
      if (!show) return;
      const filled = Math.round((Math.min(done, total) / total) * width);
      bar = `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`;
      draw(`${CLEAR_LINE}${bar}`);
    },
    end() {
      if (bar !== "") draw(CLEAR_LINE);
      bar = "";
    },
  };
}

/** Writes all of `text` (a pipe may take a write in parts). */
function writeAllSync(stream: Pick<TerminalStream, "writeSync">, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length;) at += stream.writeSync(bytes.subarray(at));
}

/**
 * For a script whose body runs at the top level (a benchmark): parses its command line and reads
 * its values, or ends the process as {@linkcode runCli} would (usage on stdout and 0 for
 * `--help`, one line on stderr and {@linkcode EXIT_USAGE} for a mistake, also one `read` finds).
 *
 * @param spec the command
 * @param args the arguments after the command
 * @param read turns the parsed line into the script's settings; throws {@linkcode UsageError}
 * @returns what `read` returns
 * @example
 * ```ts
 * const runs = commandLineOrExit(
 *   { name: "bench:x", usage: "usage: …", options: { runs: { type: "string" } } },
 *   Deno.args,
 *   ({ values }) => integerFlag("--runs", values.runs ?? "5", 1, 100),
 * );
 * ```
 */
export function commandLineOrExit<const O extends FlagSpecs, T>(
  spec: CommandSpec<O>,
  args: readonly string[],
  read: (line: CommandLine<O>) => T,
): T {
  try {
    const line = parseCommandLine(args, spec.options, { positionals: spec.positionals });
    if (line !== "help") return read(line);
    console.log(checkedUsage(spec));
    Deno.exit(0);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${spec.name}: ${error.message}`);
    Deno.exit(EXIT_USAGE);
  }
}
