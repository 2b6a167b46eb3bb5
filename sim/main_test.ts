/**
 * `deno task sim` on a failing run: the seed is printed again at the end, with a command that
 * replays the failure exactly (STYLE.md: a simulation run prints its seed at start and again on
 * failure).
 */
import assert from "node:assert/strict";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const DECODER = new TextDecoder();

/** Runs the sim command line as `deno task sim` does; its exit code and stderr. */
async function sim(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", MAIN, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: DECODER.decode(out.stderr) };
}

/** The seed and replay command of the failure report at the end of stderr. */
function failureReport(stderr: string): { seed: number; what: string; replay: string[] } {
  const match = /sim: FAILED \(([^)]+)\) with seed (\d+); replay it exactly with:\n {2}(.+)\n$/
    .exec(stderr);
  assert.ok(match, `no failure report at the end of stderr:\n${stderr}`);
  const replay = match[3].split(" ");
  assert.deepEqual(replay.slice(0, 3), ["deno", "task", "sim"]);
  return { what: match[1], seed: Number(match[2]), replay: replay.slice(3) };
}

/** The lines that describe how the run ended (not the wall-clock speed line). */
function outcomeLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "" && !/events in .* s wall/.test(line));
}

Deno.test("deno task sim prints the seed and a replay command when a run deadlocks, and the command replays it", async () => {
  const failed = await sim(["--workload", "burst:100", "--stall-ms-max", "1", "--no-svg"]);
  assert.equal(failed.code, 1);
  const report = failureReport(failed.stderr);
  assert.equal(report.what, "deadlock");
  assert.equal(report.seed, 1, "the default seed, spelled out");
  assert.ok(report.replay.includes("--seed"));
  const replayed = await sim([...report.replay, "--no-svg"]);
  assert.equal(replayed.code, 1);
  assert.deepEqual(outcomeLines(replayed.stderr), outcomeLines(failed.stderr));
});

Deno.test("deno task sim prints the seed and a replay command when a run throws, for the seed that throws", async () => {
  // Poisson arrivals around requestsMax: some seeds pass it mid-run (the run throws), others not.
  const args = ["--workload", "poisson:10:100s", "--requests-max", "1000", "--no-svg"];
  const passing = await sim([...args, "--seed", "1"]);
  assert.equal(passing.code, 0, passing.stderr);
  assert.doesNotMatch(passing.stderr, /FAILED/);
  const failed = await sim([...args, "--seed", "2"]);
  assert.notEqual(failed.code, 0);
  assert.match(failed.stderr, /more than requestsMax 1000 requests arrived/);
  const report = failureReport(failed.stderr);
  assert.equal(report.seed, 2);
  const replayed = await sim([...report.replay, "--no-svg"]);
  assert.equal(replayed.code, failed.code);
  assert.deepEqual(outcomeLines(replayed.stderr), outcomeLines(failed.stderr));
});

Deno.test("deno task sim --policy all names the seed and policy of each run that failed", async () => {
  const failed = await sim(["--workload", "burst:100", "--policy", "all", "--events-max", "50"]);
  assert.equal(failed.code, 1);
  const reports = failed.stderr.match(
    /sim: FAILED \(event-limit\) with seed 1;[^\n]*\n {2}[^\n]+/g,
  );
  assert.ok(reports && reports.length > 0, failed.stderr);
  for (const report of reports) assert.match(report, /--policy [a-z-]+ --seed 1 --events-max 50$/);
});
