/**
 * `deno task blobs`: look into a deployment's buckets. The embedded store keeps photos inside
 * `blobs/objects.db`, not as files, so this is how to see what was uploaded and what labels the
 * workers wrote; with `--backend aws --id ID` it reads the S3 buckets the same way.
 *
 * ```sh
 * deno task blobs list in|out [--prefix P] [--json] [deployment settings]
 * deno task blobs get in|out KEY [--output FILE|-] [deployment settings]
 * ```
 * @module
 */
import { resolve } from "node:path";
import { listAll, readAll } from "../cloud/blob_store.ts";
import { NotFoundError } from "../cloud/errors.ts";
import { openBackend } from "./backend.ts";
import { ConfigError, parseServiceConfig, serviceNames, settingsUsage } from "./config.ts";

const HELP = `Usage:
  deno task blobs list in|out [--prefix P] [--json] [settings]
  deno task blobs get in|out KEY [--output FILE|-] [settings]

in = <id>-in-bucket (the uploads), out = <id>-out-bucket (the labels).

  list                   one line per object: key, bytes, time (tab-separated); with --json,
                         one JSON object per line: {key, bytes, lastModified}
  get                    the object's bytes on stdout, or in FILE with --output FILE. Binary data
                         (a photo) is not written to a terminal unless --output - says to
  -h, --help             this help

${settingsUsage("blobs")}`;

/** Where the command's output goes (injected by tests). */
export interface BlobsOutput {
  line(text: string): void;
  bytes(data: Uint8Array): Promise<void>;
  error(text: string): void;
  /** Whether `bytes` lands on a terminal. @default {() => false} */
  isTerminal?(): boolean;
}

const stdio: BlobsOutput = {
  line: (text) => console.log(text),
  bytes: async (data) => {
    const writer = Deno.stdout.writable.getWriter();
    await writer.write(data);
    writer.releaseLock();
  },
  error: (text) => console.error(text),
  isTerminal: () => Deno.stdout.isTerminal(),
};

/** `--output`'s value that means stdout even when it is a terminal (as curl's). */
const OUTPUT_STDOUT = "-";

/**
 * Runs `deno task blobs`.
 * @param args the command line
 * @param out where lines, bytes and errors go
 * @returns the exit code: 0, 1 (not found), 2 (bad usage)
 */
export async function runBlobs(args: readonly string[], out: BlobsOutput = stdio): Promise<number> {
  const [action, which, ...rest] = args;
  if (args.includes("--help") || args.includes("-h")) {
    out.line(HELP);
    return 0;
  }
  const flag = [action, which].find((a) => a?.startsWith("-"));
  if (flag !== undefined) {
    out.error(`blobs: ${flag}: unknown flag here; give "list in|out" or "get in|out KEY" first`);
    return 2;
  }
  if ((action !== "list" && action !== "get") || (which !== "in" && which !== "out")) {
    out.error(`blobs: expected "list in|out" or "get in|out KEY"; see --help`);
    return 2;
  }
  const key = action === "get" ? rest.shift() : undefined;
  if (action === "get" && (key === undefined || key.startsWith("-"))) {
    out.error("blobs: get needs the object's KEY, e.g. test_00.jpg (in) or test_00 (out)");
    return 2;
  }
  const own = takeFlag(rest, action === "list" ? "--prefix" : "--output");
  if (typeof own === "object") {
    out.error(own.error);
    return 2;
  }
  const json = action === "list" && takeSwitch(rest, "--json");
  let config;
  try {
    config = parseServiceConfig("blobs", rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    out.error(`blobs: ${error.message}`);
    return 2;
  }
  if (config === "help") {
    out.line(HELP);
    return 0;
  }
  if (config.backend === "local" && !isDirectory(config.dataDir)) {
    // Opening would create an empty store there: say where we looked instead.
    out.error(`blobs: no data directory at ${resolve(config.dataDir)}; pass the service's --data`);
    return 1;
  }
  const names = serviceNames(config);
  const bucket = which === "in" ? names.inBucket : names.outBucket;
  const backend = await openBackend(config, { fleet: false });
  try {
    if (action === "list") {
      for await (const item of listAll(backend.blobs, bucket, { prefix: own })) {
        const time = new Date(item.lastModifiedMs).toISOString();
        out.line(
          json
            ? JSON.stringify({ key: item.key, bytes: item.sizeBytes, lastModified: time })
            : `${item.key}\t${item.sizeBytes}\t${time}`,
        );
      }
      return 0;
    }
    const data = await readAll((await backend.blobs.get(bucket, key!)).body);
    if (own !== undefined && own !== OUTPUT_STDOUT) {
      await Deno.writeFile(own, data);
      return 0;
    }
    if (own === undefined && (out.isTerminal?.() ?? false) && isBinary(data)) {
      out.error(
        `blobs: ${key} is ${data.length} bytes of binary data; not writing it to a terminal. ` +
          `Use --output FILE to save it, or --output - to write it here anyway`,
      );
      return 2;
    }
    await out.bytes(data);
    return 0;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    const hint = error.kind === "bucket"
      ? "has the service run with these --data/--id settings?"
      : `try "deno task blobs list ${which}"`;
    out.error(`blobs: ${error.kind} ${JSON.stringify(error.resource)} does not exist; ${hint}`);
    return 1;
  } finally {
    await backend.close();
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Whether bytes would garble a terminal: a NUL, or not UTF-8 text. */
export function isBinary(data: Uint8Array): boolean {
  if (data.includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data);
    return false;
  } catch {
    return true;
  }
}

/** Removes `--flag` from `args`; whether it was there. */
function takeSwitch(args: string[], flag: string): boolean {
  const at = args.indexOf(flag);
  if (at >= 0) args.splice(at, 1);
  return at >= 0;
}

/** Removes `--flag VALUE` from `args`; the value, undefined when absent, or an error. */
function takeFlag(args: string[], flag: string): string | undefined | { error: string } {
  const at = args.indexOf(flag);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (value === undefined || (value.startsWith("-") && value !== OUTPUT_STDOUT)) {
    return { error: `blobs: ${flag}: needs a value` };
  }
  args.splice(at, 2);
  return value;
}

if (import.meta.main) Deno.exit(await runBlobs(Deno.args));
