/**
 * How the service's one settings table (`SETTINGS` in `config.ts`) is read: from the table come
 * the parsing and validation of a command line, each command's `--help`, the flags a local worker
 * inherits from its parent, and the README's settings list. The table says what the settings
 * are; this module says how a table is read, so a setting is written down once.
 * @module
 */
import { type FlagSpec, parseCommandLine, readFailureReason, UsageError } from "../internal/cli.ts";

/**
 * The commands that read the settings; each takes only the settings whose row names it. `aws` is
 * `deno task aws plan|up|status|down`: its subcommand is a word before the flags, which all its
 * subcommands share (a deployment is described once), so one command in the table covers them.
 */
export type ServiceCommand = "start" | "serve" | "worker" | "blobs" | "aws";

/** Every command, in the order the README lists them. */
export const SERVICE_COMMANDS: readonly ServiceCommand[] = [
  "start",
  "serve",
  "worker",
  "blobs",
  "aws",
];

/** A setting with a bad value; the message names it and says what is accepted. */
export class ConfigError extends Error {
  /** The flag (`--max`) or environment variable (`PORT`) the value came from. */
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

/** How one setting's text becomes its value, and back. */
export interface ValueType<V> {
  /** The value's placeholder in `--help`: `N`, `local|aws`, `URL`. */
  readonly arg: string;
  /** What is accepted when `arg` does not say it: `1..32`, `an AMI id like ami-0123…`. */
  readonly accepts?: string;
  /**
   * The value of `text`.
   * @throws {Error} whose message says what is accepted and what was given
   */
  parse(text: string): V;
  /** The text that parses back to `value` (the flags a worker inherits). */
  format(value: V): string;
}

/** What a computed default may look at. */
export interface DefaultContext {
  readonly command: ServiceCommand;
  /** CPU cores of this machine. */
  readonly cores: number;
  /** The value of a setting earlier in the table, by its path (`dataDir`). */
  get(path: string): unknown;
}

/** A default: text parsed like a flag's, or computed at parse time and described for people. */
export type DefaultValue =
  | string
  | { readonly doc: string; text(context: DefaultContext): string | undefined };

/** One row of a settings table, for a value of type `V`. */
export interface SettingRow<V> {
  /** The flag without its dashes: `max` for `--max`. */
  readonly flag: string;
  /** Another flag naming a file whose first line is the value (secrets stay out of `ps`). */
  readonly fileFlag?: string;
  /** An environment variable read when no flag is given (empty counts as unset). */
  readonly env?: string;
  /** The commands that take it; any other refuses its flag. */
  readonly commands: readonly ServiceCommand[];
  /** A local or EC2 worker started by `start`/`serve` gets the parent's value as a flag. */
  readonly inherit?: boolean;
  /** The default where a command has one of its own. */
  readonly defaultFor?: { readonly [C in ServiceCommand]?: DefaultValue };
  /** What leaving it unset means, when it has no default value (`none: every route is open`). */
  readonly unset?: string;
  readonly value: ValueType<V>;
  /** The unit of a number (`ms`, `bytes`), after its range in `--help`. */
  readonly unit?: string;
  /** One line for `--help` and the README. */
  readonly doc: string;
}

/** A row; a setting whose value is never `undefined` must have a default. */
export type Setting<V> =
  & SettingRow<Exclude<V, undefined>>
  & (undefined extends V ? { readonly default?: DefaultValue }
    : { readonly default: DefaultValue });

/** A table: rows by the setting's path in the config (`instancesMax`, `aws.instanceType`). */
export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;

/** Where the environment and files come from, and the core count (tests pass their own). */
export interface ReadOptions {
  /** @default {(name) => Deno.env.get(name)} */
  env?: (name: string) => string | undefined;
  /** Reads a `fileFlag`'s file. @default {Deno.readTextFileSync} */
  readTextFile?: (path: string) => string;
  /** @default {navigator.hardwareConcurrency} */
  cores?: number;
}

/** What {@linkcode parseSettings} returns. */
export interface ParsedSettings {
  /** Each setting's value by path (`undefined` when unset and without a default). */
  readonly values: ReadonlyMap<string, unknown>;
  /** The paths given by a flag or an environment variable (the rest have their defaults). */
  readonly given: ReadonlySet<string>;
}

/**
 * Parses and validates a command line against a table, in the table's order.
 *
 * @param table the settings
 * @param command which command is reading them
 * @param args the flags
 * @param options environment, file reader and core count
 * @returns each setting's value by path (a setting the command does not take has its default)
 *   and which were given, or `"help"` when `--help` was given
 * @throws {ConfigError} naming the first unknown flag, flag of another command, or bad value
 * @example
 * ```ts
 * const parsed = parseSettings(SETTINGS, "worker", ["--threads", "2"]);
 * if (parsed !== "help") parsed.values.get("threads"); // 2
 * ```
 */
export function parseSettings(
  table: SettingsTable,
  command: ServiceCommand,
  args: readonly string[],
  options: ReadOptions = {},
): ParsedSettings | "help" {
  const flags = parseFlags(table, args);
  if (flags === "help") return "help";
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const values = new Map<string, unknown>();
  const given = new Set<string>();
  const context: DefaultContext = {
    command,
    cores: options.cores ?? navigator.hardwareConcurrency ?? 1,
    get: (path) => values.get(path),
  };
  for (const [path, row] of Object.entries(table)) {
    const named = [row.flag, row.fileFlag].filter((f) => f !== undefined && flags[f] !== undefined);
    if (named.length > 0 && !row.commands.includes(command)) {
      throw new ConfigError(`--${named[0]}`, `${takers(row.commands)}; see --help`);
    }
    if (named.length > 1) {
      throw new ConfigError(`--${row.flag}`, `give --${row.flag} or --${row.fileFlag}, not both`);
    }
    let source = row.commands.includes(command) ? readSource(row, flags, env, options) : undefined;
    if (source !== undefined) given.add(path);
    else {
      const fallback = defaultOf(row, command);
      const text = typeof fallback === "object" ? fallback.text(context) : fallback;
      source = text === undefined ? undefined : { setting: `--${row.flag}`, text };
    }
    values.set(path, source === undefined ? undefined : parseValue(row, source));
  }
  return { values, given };
}

/**
 * The flags that give a worker the inherited settings' values.
 * @param table the settings
 * @param get a value by path
 * @returns `--flag value` pairs, in the table's order, for each inherited setting with a value
 */
export function inheritedFlags(table: SettingsTable, get: (path: string) => unknown): string[] {
  return Object.entries(table).flatMap(([path, row]) => {
    const value = get(path);
    return row.inherit && value !== undefined ? [`--${row.flag}`, row.value.format(value)] : [];
  });
}

/** `--help`'s column where the descriptions start, and its line width. */
const HELP_NAMES_CHARS = 32;
const HELP_LINE_CHARS = 100;

/**
 * The settings part of a command's `--help`: every setting it takes, one entry each.
 * @param table the settings
 * @param command the command
 * @param groups headings for rows whose path starts with a prefix (`aws.`: `AWS only`)
 */
export function settingsHelp(
  table: SettingsTable,
  command: ServiceCommand,
  groups: Readonly<Record<string, string>> = {},
): string {
  const lines = ["Settings (default in parentheses):"];
  let heading = "";
  for (const [path, row] of Object.entries(table)) {
    if (!row.commands.includes(command)) continue;
    const group = Object.keys(groups).find((prefix) => path.startsWith(prefix));
    if (group !== undefined && groups[group] !== heading) {
      heading = groups[group];
      lines.push(`${heading}:`);
    }
    const names = `  ${flagNames(row)}`;
    const words = `${describe(row)} (${defaultDoc(row, command)})`.split(" ");
    // Two spaces at least between the flags and their description, else it starts below them.
    let line = names.padEnd(HELP_NAMES_CHARS);
    if (names.length + 2 > HELP_NAMES_CHARS) {
      lines.push(names);
      line = " ".repeat(HELP_NAMES_CHARS);
    }
    let empty = true;
    for (const word of words) {
      if (!empty && line.length + 1 + word.length > HELP_LINE_CHARS) {
        lines.push(line);
        line = " ".repeat(HELP_NAMES_CHARS);
        empty = true;
      }
      line += empty ? word : ` ${word}`;
      empty = false;
    }
    lines.push(line);
  }
  return lines.join("\n");
}

/**
 * The README's settings list: a Markdown table of every setting (run it through `deno fmt`).
 * @param table the settings
 */
export function settingsMarkdown(table: SettingsTable): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const rows = Object.values(table).map((row) => {
    const defaults = [...new Set(row.commands.map((c) => defaultDoc(row, c)))];
    const byCommand = defaults.length === 1 ? defaults[0] : row.commands
      .map((c) => `${defaultDoc(row, c)} (${c})`)
      .join("; ");
    const commands = row.commands.map((c) =>
      c === "worker" && row.inherit ? "worker (inherited)" : c
    )
      .join(", ");
    return `| ${cell(`\`${flagNames(row)}\``)} | ${cell(byCommand)} | ${commands} | ${
      cell(describe(row))
    } |`;
  });
  return [
    "| setting | default | commands | what it sets |",
    "| --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/**
 * Replaces the text between two marker lines.
 * @param text the document
 * @param begin the opening marker line
 * @param end the closing marker line
 * @param block the new text between them
 * @throws {RangeError} when the markers are missing or out of order
 */
export function replaceBetween(text: string, begin: string, end: string, block: string): string {
  const [from, to] = between(text, begin, end);
  return `${text.slice(0, from)}${block}${text.slice(to)}`;
}

/**
 * The text between two marker lines.
 * @throws {RangeError} when the markers are missing or out of order
 */
export function textBetween(text: string, begin: string, end: string): string {
  const [from, to] = between(text, begin, end);
  return text.slice(from, to);
}

/** Where the text between the marker lines starts and ends. */
function between(text: string, begin: string, end: string): [number, number] {
  const from = text.indexOf(`${begin}\n`);
  const to = text.indexOf(`\n${end}`, from);
  if (from < 0 || to < 0) {
    throw new RangeError(
      `the markers ${JSON.stringify(begin)} and ${JSON.stringify(end)} are missing`,
    );
  }
  return [from + begin.length + 1, to];
}

// ---- value types -------------------------------------------------------------------------

/** An integer in `[min, max]`. */
export function integer(min: number, max: number): ValueType<number> {
  return {
    arg: "N",
    accepts: `${min}..${max}`,
    parse(text) {
      const value = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new RangeError(`must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}`);
      }
      return value;
    },
    format: String,
  };
}

/** One of a few words. */
export function oneOf<T extends string>(allowed: readonly T[]): ValueType<T> {
  return {
    arg: allowed.join("|"),
    parse(text) {
      if (!(allowed as readonly string[]).includes(text)) {
        throw new RangeError(`must be one of ${allowed.join(", ")}, got ${JSON.stringify(text)}`);
      }
      return text as T;
    },
    format: String,
  };
}

/** Text matching `re`; `what` completes "must be …" (`an AMI id like ami-0123…`). */
export function pattern(arg: string, re: RegExp, what: string): ValueType<string> {
  return {
    arg,
    accepts: what,
    parse(text) {
      if (!re.test(text)) throw new RangeError(`must be ${what}, got ${JSON.stringify(text)}`);
      return text;
    },
    format: String,
  };
}

/** An `http://` or `https://` URL with a host. */
export function httpUrl(): ValueType<string> {
  return pattern("URL", /^https?:\/\/[^/\s]+/, "an http(s) URL");
}

/** A file or directory path: any non-empty text without a NUL. */
export function filePath(arg: string): ValueType<string> {
  return {
    arg,
    parse(text) {
      if (text === "" || text.includes("\0")) {
        throw new RangeError(
          `must be a ${arg === "DIR" ? "directory" : "file"} path, got ${JSON.stringify(text)}`,
        );
      }
      return text;
    },
    format: String,
  };
}

/** A comma-separated list of items of one type (empty items dropped). */
export function list<T>(item: ValueType<T>, arg: string): ValueType<readonly T[]> {
  return {
    arg,
    accepts: item.accepts === undefined ? undefined : `comma-separated, each ${item.accepts}`,
    parse: (text) => text.split(",").filter((t) => t !== "").map((t) => item.parse(t)),
    format: (values) => values.map((v) => item.format(v)).join(","),
  };
}

// ---- helpers -----------------------------------------------------------------------------

type Flags = Record<string, string | boolean | undefined>;

function parseFlags(table: SettingsTable, args: readonly string[]): Flags | "help" {
  // Every command's flags, so a flag of another command is named as such, not as unknown.
  const options: Record<string, FlagSpec> = {};
  for (const row of Object.values(table)) {
    options[row.flag] = { type: "string" };
    if (row.fileFlag !== undefined) options[row.fileFlag] = { type: "string" };
  }
  try {
    const line = parseCommandLine(args, options);
    return line === "help" ? "help" : line.values as Flags;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new ConfigError(error.flag ?? "arguments", error.problem);
  }
}

function takers(commands: readonly ServiceCommand[]): string {
  const names = commands.map((c) => `\`deno task ${c}\``);
  const listed = names.length === 1
    ? names[0]
    : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return `only ${listed} ${names.length === 1 ? "takes" : "take"} it`;
}

interface Source {
  /** The flag or environment variable, for messages. */
  readonly setting: string;
  readonly text: string;
}

function readSource(
  row: SettingRow<unknown>,
  flags: Flags,
  env: (name: string) => string | undefined,
  options: ReadOptions,
): Source | undefined {
  if (row.fileFlag !== undefined && flags[row.fileFlag] !== undefined) {
    const setting = `--${row.fileFlag}`;
    const file = flags[row.fileFlag] as string;
    try {
      const text = (options.readTextFile ?? Deno.readTextFileSync)(file).split(/\r?\n/)[0];
      return { setting, text };
    } catch (error) {
      throw new ConfigError(
        setting,
        `cannot read ${JSON.stringify(file)}: ${readFailureReason(error)}`,
      );
    }
  }
  const flag = flags[row.flag];
  if (typeof flag === "string") return { setting: `--${row.flag}`, text: flag };
  const fromEnv = row.env === undefined ? undefined : env(row.env);
  if (fromEnv !== undefined && fromEnv !== "") return { setting: row.env!, text: fromEnv };
  return undefined;
}

function parseValue(row: SettingRow<unknown>, source: Source): unknown {
  try {
    return row.value.parse(source.text);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(source.setting, (error as Error).message);
  }
}

function defaultOf(row: Setting<unknown>, command: ServiceCommand): DefaultValue | undefined {
  return row.defaultFor?.[command] ?? row.default;
}

function defaultDoc(row: Setting<unknown>, command: ServiceCommand): string {
  const value = defaultOf(row, command);
  if (value === undefined) return row.unset ?? "none";
  return typeof value === "object" ? value.doc : value;
}

function flagNames(row: SettingRow<unknown>): string {
  return [
    `--${row.flag} ${row.value.arg}`,
    ...(row.fileFlag === undefined ? [] : [`--${row.fileFlag} FILE`]),
    ...(row.env === undefined ? [] : [`env ${row.env}`]),
  ].join(", ");
}

function describe(row: SettingRow<unknown>): string {
  const accepts = row.value.accepts;
  if (accepts === undefined) return row.doc;
  return `${row.doc} [${accepts}${row.unit === undefined ? "" : ` ${row.unit}`}]`;
}
