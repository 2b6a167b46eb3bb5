/**
 * The README's walkthrough as data, so a test can run it and fail where the README no longer says
 * what the commands print.
 *
 * The walkthrough is every ```` ```sh ```` block between `<!-- walkthrough:begin NAME -->` and
 * `<!-- walkthrough:end -->` (prose between the blocks is free). In a block:
 * - a line starting with `$ ` is a command, run by bash from the clone's folder (each in a bash of
 *   its own: no `cd` or variables carry over);
 * - the lines after it, up to the next command, are what it prints (stdout and stderr together, as a
 *   terminal shows them, without `deno task`'s own `Task NAME COMMAND` line);
 * - a line that is only `…` stands for any number of lines (none too); a `…` inside a line stands
 *   for any text within that line (a timing, a request id, the digits after the ones shown);
 * - a command must exit 0 (show a failure as `CMD; echo "exit $?"`);
 * - `CMD &` starts CMD in the background as a job (numbered from 1); its lines are the start of
 *   what it prints, and the next command runs once they have appeared;
 * - `kill %N` stops job N as an interactive shell does (SIGTERM to its process group); its lines are
 *   the end of everything the job printed (so they usually start with `…`).
 *
 * `<!-- walkthrough:begin NAME needs=FILE,FILE -->` marks a section that needs files a clone does
 * not have (the course dataset): the test copies them into the folder first.
 * @module
 */

/** The elision mark: alone on a line, any lines; inside a line, any text. */
export const ELISION = "…";

/** One command of the walkthrough and what it prints. */
export interface WalkthroughStep {
  /** The command line, without `$ ` (and without ` &` for a background job). */
  readonly command: string;
  /** What the README says it prints, one entry per line (`…` entries included). */
  readonly expected: readonly string[];
  /** Started as a background job (`CMD &`). */
  readonly background: boolean;
  /** The job `kill %N` stops, when this step is one. */
  readonly killsJob?: number;
  /** Its line number in the README (1-based), for messages. */
  readonly line: number;
}

/** A `walkthrough:begin … end` section. */
export interface WalkthroughSection {
  readonly name: string;
  /** Files the section needs that a clone does not have (`needs=`). */
  readonly needs: readonly string[];
  readonly steps: readonly WalkthroughStep[];
}

/** A README whose walkthrough markers or blocks cannot be read. */
export class WalkthroughFormatError extends Error {
  /**
   * @param line 1-based line of the README at fault
   * @param problem what is wrong there
   */
  constructor(readonly line: number, problem: string) {
    super(`README.md:${line}: ${problem}`);
    this.name = "WalkthroughFormatError";
  }
}

const BEGIN = /^<!-- walkthrough:begin (\S+)(?: needs=(\S+))? -->$/;
const END = "<!-- walkthrough:end -->";
const KILL = /^kill %(\d+)$/;

/**
 * Reads every walkthrough section of a README.
 * @throws {WalkthroughFormatError} on an unclosed or nested section, output before any command,
 *   or a `kill %N` of a job not started
 */
export function parseWalkthrough(markdown: string): WalkthroughSection[] {
  const lines = markdown.split("\n");
  const sections: WalkthroughSection[] = [];
  let section: { name: string; needs: string[]; steps: WalkthroughStep[]; line: number } | null =
    null;
  let inBlock = false;
  let jobs = 0;
  let step: {
    command: string;
    expected: string[];
    background: boolean;
    killsJob?: number;
    line: number;
  } | null = null;
  const flush = () => {
    if (step && section) section.steps.push(step);
    step = null;
  };
  for (const [index, text] of lines.entries()) {
    const line = index + 1;
    const begin = BEGIN.exec(text.trim());
    if (begin) {
      if (section) throw new WalkthroughFormatError(line, "walkthrough:begin inside a section");
      section = { name: begin[1], needs: begin[2]?.split(",") ?? [], steps: [], line };
      jobs = 0;
      continue;
    }
    if (text.trim() === END) {
      if (!section) throw new WalkthroughFormatError(line, "walkthrough:end without a begin");
      if (inBlock) throw new WalkthroughFormatError(line, "walkthrough:end inside a code block");
      sections.push(section);
      section = null;
      continue;
    }
    if (!section) continue;
    if (!inBlock) {
      if (text.trim() === "```sh") inBlock = true;
      continue;
    }
    if (text.trim() === "```") {
      flush();
      inBlock = false;
      continue;
    }
    if (text.startsWith("$ ")) {
      flush();
      let command = text.slice(2).trim();
      const background = command.endsWith(" &");
      if (background) {
        command = command.slice(0, -2).trim();
        jobs++;
      }
      const kill = KILL.exec(command);
      const killsJob = kill ? Number(kill[1]) : undefined;
      if (killsJob !== undefined && (killsJob < 1 || killsJob > jobs)) {
        throw new WalkthroughFormatError(line, `kill %${killsJob}: no such job started above`);
      }
      step = { command, expected: [], background, killsJob, line };
      continue;
    }
    if (!step) throw new WalkthroughFormatError(line, "output before any `$ ` command");
    (step as { expected: string[] }).expected.push(text);
  }
  if (section) throw new WalkthroughFormatError(section.line, "walkthrough:begin without an end");
  return sections;
}

/** Where an output first departs from what the README says. */
export interface Mismatch {
  /** 0-based index into the expected lines of the first one that could not be matched. */
  readonly expectedIndex: number;
  /** That expected line, or `(end of the expected output)` when the output goes on. */
  readonly expectedLine: string;
  /** The output line found there, or `(end of the output)`. */
  readonly actualLine: string;
}

/**
 * Compares an output with the README's lines (`…` as described in the module doc).
 * @returns undefined when it matches, else the first expected line no alignment could get past
 */
export function matchOutput(
  expected: readonly string[],
  actual: readonly string[],
): Mismatch | undefined {
  const patterns = expected.map((e) => e === ELISION ? null : linePattern(e));
  const failed = new Set<string>();
  // The furthest expected line any alignment reached, with the output line it stood at.
  let furthest = { i: 0, j: 0 };
  const match = (i: number, j: number): boolean => {
    if (i > furthest.i || (i === furthest.i && j > furthest.j)) furthest = { i, j };
    if (i === patterns.length) return j === actual.length;
    const key = `${i},${j}`;
    if (failed.has(key)) return false;
    const pattern = patterns[i];
    let ok: boolean;
    if (pattern === null) {
      ok = false;
      for (let k = j; k <= actual.length && !ok; k++) ok = match(i + 1, k);
    } else {
      ok = j < actual.length && pattern.test(actual[j]) && match(i + 1, j + 1);
    }
    if (!ok) failed.add(key);
    return ok;
  };
  if (match(0, 0)) return undefined;
  const { i, j } = furthest;
  return {
    expectedIndex: i,
    expectedLine: i < expected.length ? expected[i] : "(end of the expected output)",
    actualLine: j < actual.length ? actual[j] : "(end of the output)",
  };
}

/** The regular expression of one expected line: literal text, `…` any text. */
function linePattern(expected: string): RegExp {
  const parts = expected.split(ELISION).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*?")}$`);
}

/** An output as lines, without `deno task`'s `Task NAME COMMAND` lines and the final newline. */
export function outputLines(text: string): string[] {
  const lines = text.split("\n").filter((l) => !/^Task \S+ /.test(l));
  if (lines.at(-1) === "") lines.pop();
  return lines;
}
