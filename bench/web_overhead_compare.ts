/**
 * `bench/web_overhead.ts` at an earlier revision and at this checkout, alternating run by run (and
 * which goes first), so both see the same load on a shared machine. The earlier revision is
 * exported whole with `git archive` and shares this checkout's `node_modules`.
 *
 * ```sh
 * deno run -A bench/web_overhead_compare.ts --baseline <rev> [--runs 3] [--rounds 3]
 * ```
 * Prints, per side, the median over runs of the bench's median overhead p50/p99 (100 `POST /`
 * sent at once) and of its accept rate (`POST /requests`, 100 clients).
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../internal/mod.ts";
import { exportRevision, REPO_ROOT } from "./_baseline.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    baseline: { type: "string" },
    runs: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
  },
});
if (!values.baseline) throw new Error("--baseline <git rev> is required");
const runs = Number(values.runs);
const baseDir = await exportRevision(values.baseline, ["."]);
await Deno.symlink(join(REPO_ROOT, "node_modules"), join(baseDir, "node_modules"));

interface Figures {
  overheadP50Ms: number;
  overheadP99Ms: number;
  acceptPerS: number;
}

async function run(root: string): Promise<Figures> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "bench/web_overhead.ts",
      "--mode",
      "both",
      "--rounds",
      values.rounds!,
      "--json",
    ],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error(`web_overhead.ts failed in ${root}`);
  const report = JSON.parse(new TextDecoder().decode(out.stdout));
  return {
    overheadP50Ms: report.overhead.medianOverheadP50Ms,
    overheadP99Ms: report.overhead.medianOverheadP99Ms,
    acceptPerS: report.accept.medianPerS,
  };
}

const sides: Record<string, Figures[]> = { baseline: [], checkout: [] };
try {
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ["baseline", "checkout"] : ["checkout", "baseline"];
    for (const side of order) {
      const figures = await run(side === "baseline" ? baseDir : REPO_ROOT);
      sides[side].push(figures);
      console.error(`${side} run ${i + 1}: ${JSON.stringify(figures)}`);
    }
  }
} finally {
  await Deno.remove(baseDir, { recursive: true });
}
for (const [side, list] of Object.entries(sides)) {
  console.log(
    `${side.padEnd(8)} overhead p50 ${median(list.map((f) => f.overheadP50Ms)).toFixed(1)} ms, ` +
      `p99 ${median(list.map((f) => f.overheadP99Ms)).toFixed(1)} ms; accept ` +
      `${median(list.map((f) => f.acceptPerS)).toFixed(0)} req/s (median of ${list.length})`,
  );
}
