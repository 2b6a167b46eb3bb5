/**
 * Worker start-up time: from spawning `service/worker.ts` (what the local fleet does when the
 * controller starts an instance) to the worker being ready to receive (model sessions loaded),
 * and to the process having exited again on an empty queue. Medians over `--runs`.
 *
 * With `--package DIR` (a `deno task package` folder) each run also starts the packaged worker
 * with its manifest's command from DIR, alternating with the repository's, and the summary has
 * both.
 *
 * ```sh
 * deno run -A bench/worker_startup.ts [--runs 5] [--model-backend web|native|auto] [--package DIR]
 * ```
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../internal/mod.ts";
import { ensureResources, openBackend, WORKER_MAIN } from "../service/backend.ts";
import { parseServiceConfig, type ServiceConfig, serviceNames } from "../service/config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    "model-backend": { type: "string", default: "web" },
    json: { type: "boolean", default: false },
    package: { type: "string" },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  throw new RangeError(`--runs must be an integer in 1..100, got ${values.runs}`);
}
const dataDir = await Deno.makeTempDir({ prefix: "fr-bench-startup-" });
const flags = ["--data", dataDir, "--model-backend", values["model-backend"]!];
const config = parseServiceConfig("worker", flags) as ServiceConfig;
const backend = await openBackend(config, { fleet: false });
await ensureResources(backend, serviceNames(config), config);
await backend.close();

interface Run {
  /** Spawn → the worker's "ready" line (sessions loaded), as seen by the spawner. */
  readyMs: number;
  /** The worker's own view: process start → modules imported. */
  importMs: number;
  /** Spawn → process exited (empty queue: it stops at once). */
  exitMs: number;
}

/** A way to start the worker: the program and arguments before the settings, and where. */
interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

const variants: Variant[] = [
  { name: "repo", args: ["run", "-A", "--quiet", "--cached-only", WORKER_MAIN] },
];
if (values.package !== undefined) {
  const cwd = resolve(values.package);
  const manifest = JSON.parse(await Deno.readTextFile(`${cwd}/manifest.json`));
  const [, ...args] = manifest.programs.worker.command as string[]; // "deno": this one
  variants.push({ name: "package", args: [...args.slice(0, 1), "--quiet", ...args.slice(1)], cwd });
}

async function startOnce(variant: Variant): Promise<Run> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...variant.args, ...flags],
    cwd: variant.cwd,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let readyMs = NaN;
  let importMs = NaN;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (const line of buffer.split("\n").slice(0, -1)) {
      const parsed = JSON.parse(line);
      if (parsed.event === "ready") {
        readyMs = performance.now() - t0;
        importMs = parsed.importMs;
      }
    }
    buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
  }
  const status = await child.status;
  if (!status.success) throw new Error(`${variant.name} worker exited with ${status.code}`);
  return { readyMs, importMs, exitMs: performance.now() - t0 };
}

const results = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
for (let k = 0; k < runs; k++) {
  // Alternating, so a change in the machine's load falls on both alike.
  for (const variant of variants) results.get(variant.name)!.push(await startOnce(variant));
}
await Deno.remove(dataDir, { recursive: true });

function summarise(runs: Run[]) {
  return {
    readyMsMedian: Math.round(median(runs.map((r) => r.readyMs))),
    importMsMedian: Math.round(median(runs.map((r) => r.importMs))),
    exitMsMedian: Math.round(median(runs.map((r) => r.exitMs))),
    readyMs: runs.map((r) => Math.round(r.readyMs)),
  };
}

const summary = {
  backend: values["model-backend"],
  runs,
  ...summarise(results.get("repo")!),
  ...(values.package === undefined ? {} : { package: summarise(results.get("package")!) }),
  loadAverage: Deno.loadavg()[0],
};
console.log(values.json ? JSON.stringify(summary) : summary);
