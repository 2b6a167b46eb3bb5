/**
 * `deno task settings:readme`: rewrites the README's settings list, between its two marker lines,
 * from {@linkcode SETTINGS} (formatted as `deno fmt` formats the README). `--check` changes
 * nothing and exits 1 when the README's list is out of date.
 * @module
 */
import { runCli } from "../internal/cli.ts";
import { SETTINGS } from "./config.ts";
import { replaceBetween, settingsMarkdown, textBetween } from "./settings.ts";

/** The README this list lives in. */
export const README_PATH = new URL("../README.md", import.meta.url).pathname;
/** The line before the generated list. */
export const SETTINGS_BEGIN =
  "<!-- settings:begin (generated from SETTINGS in service/config.ts by `deno task settings:readme`; do not edit) -->";
/** The line after it. */
export const SETTINGS_END = "<!-- settings:end -->";

/**
 * The settings list as the README must hold it between its markers.
 * @returns the Markdown table, formatted by `deno fmt` (which sets it off with blank lines)
 * @throws {Error} when `deno fmt` fails
 */
export async function readmeSettings(): Promise<string> {
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    // The repository's deno.json sets the line width the README is formatted with.
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${settingsMarkdown(SETTINGS)}\n`));
  await writer.close();
  const out = await fmt.output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`deno fmt failed: ${text.decode(out.stderr)}`);
  return `\n${text.decode(out.stdout).replace(/\n+$/, "")}\n`;
}

/**
 * The README's settings list as it stands.
 * @param readme the README's text
 * @throws {RangeError} when its markers are missing
 */
export function currentReadmeSettings(readme: string): string {
  return textBetween(readme, SETTINGS_BEGIN, SETTINGS_END);
}

const USAGE = `Usage: deno task settings:readme [--check]

Rewrites the README's settings list (between its marker lines) from SETTINGS in service/config.ts.

  --check                change nothing; exit 1 when the README's list is out of date
  -h, --help             this help`;

async function main(check: boolean): Promise<number> {
  const readme = await Deno.readTextFile(README_PATH);
  const wanted = await readmeSettings();
  if (currentReadmeSettings(readme) === wanted) {
    console.log("README.md: the settings list is up to date");
    return 0;
  }
  if (check) {
    console.error("README.md: the settings list is out of date; run `deno task settings:readme`");
    return 1;
  }
  await Deno.writeTextFile(
    README_PATH,
    replaceBetween(readme, SETTINGS_BEGIN, SETTINGS_END, wanted),
  );
  console.log("README.md: the settings list is rewritten from SETTINGS");
  return 0;
}

if (import.meta.main) {
  const spec = {
    name: "settings:readme",
    usage: USAGE,
    options: { check: { type: "boolean" } },
  } as const;
  Deno.exit(await runCli(spec, Deno.args, ({ values }) => main(values.check ?? false)));
}
