/**
 * Worker start-up time: from spawning `service/worker.ts` (what the local fleet does when the
 * controller starts an instance) to the worker being ready to receive (model sessions loaded),
 * and to the process having exited again on an empty queue. Medians over `--runs`.
 *
 * ```sh
 * deno run -A bench/worker_startup.ts [--runs 5] [--model-backend web|native|auto]
 * ```
 * @module
 */
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

const results: Run[] = [];
for (let k = 0; k < runs; k++) {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--cached-only", WORKER_MAIN, ...flags],
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
  if (!status.success) throw new Error(`worker exited with ${status.code}`);
  results.push({ readyMs, importMs, exitMs: performance.now() - t0 });
}
await Deno.remove(dataDir, { recursive: true });

const summary = {
  backend: values["model-backend"],
  runs,
  readyMsMedian: Math.round(median(results.map((r) => r.readyMs))),
  importMsMedian: Math.round(median(results.map((r) => r.importMs))),
  exitMsMedian: Math.round(median(results.map((r) => r.exitMs))),
  readyMs: results.map((r) => Math.round(r.readyMs)),
  loadAverage: Deno.loadavg()[0],
};
console.log(values.json ? JSON.stringify(summary) : summary);
