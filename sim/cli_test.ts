import assert from "node:assert/strict";
import { parseCli, replayCommand, usage, UsageError } from "./cli.ts";
import { flagName, resolveSimConfig, SIM_KEYS } from "./config.ts";

Deno.test("parseCli reads the documented contract flags", () => {
  const cli = parseCli(["--workload", "burst:100", "--seed", "7", "--json"]);
  assert.equal(cli.workload, "burst:100");
  assert.equal(cli.settings.seed, 7);
  assert.equal(cli.json, true);
  assert.equal(cli.policy, "controller");
  assert.equal(cli.svgPath, "out/sim.svg");
});

Deno.test("parseCli maps every setting to a kebab-case flag, booleans included", () => {
  const cli = parseCli([
    "--service-ms-median=400",
    "--keep-alive-ms",
    "10000",
    "--worker-self-stop",
    "false",
    "--no-svg",
  ]);
  assert.deepEqual(cli.settings, {
    serviceMsMedian: 400,
    keepAliveMs: 10_000,
    workerSelfStop: false,
  });
  assert.equal(cli.svgPath, null);
  for (const key of SIM_KEYS) assert.match(flagName(key), /^[a-z0-9-]+$/);
  assert.ok(usage().includes("--service-ms-p95"));
});

Deno.test("parseCli rejects unknown flags and bad values naming the flag", () => {
  assert.throws(() => parseCli(["--wrokload", "x"]), /--wrokload: unknown flag/);
  assert.throws(() => parseCli(["burst:100"]), /"burst:100": unexpected argument/);
  assert.throws(() => parseCli(["--worker-self-stop=maybe"]), /takes true or false, got "maybe"/);
  assert.equal(parseCli(["-h"]).help, true);
  assert.equal(parseCli(["--seed", "x", "--help"]).help, true);
  assert.throws(() => parseCli(["--tick-ms", "often"]), /--tick-ms takes a number, got "often"/);
  assert.throws(() => parseCli(["--policy", "hpa"]), /--policy must be one of/);
  assert.throws(() => parseCli(["--seed"]), UsageError);
});

Deno.test("resolveSimConfig fills a profile's defaults and names a bad setting", () => {
  const aws = resolveSimConfig();
  assert.equal(aws.instancesMax, 15);
  assert.equal(aws.instancesPool, 15);
  const local = resolveSimConfig({ instancesMax: 4 }, "local");
  assert.equal(local.instancesPool, 4);
  assert.equal(local.countLagMs, 0);
  assert.throws(
    () => resolveSimConfig({ tickMs: 0 }),
    /tickMs must be a number in \[1, 3600000\], got 0/,
  );
  assert.throws(
    () => resolveSimConfig({ serviceMsP95: 100 }),
    /serviceMsP95 must be >= serviceMsMedian/,
  );
  assert.throws(
    () => resolveSimConfig({ instancesMin: 20 }),
    /instancesMin must be <= instancesMax/,
  );
  assert.throws(
    () => resolveSimConfig({ instancesMax: 2.5 }),
    /instancesMax must be a whole number/,
  );
  assert.throws(() => resolveSimConfig({ bogus: 1 } as never), /unknown setting "bogus"/);
});

Deno.test("replayCommand spells out the run: workload, profile, policy, seed and every setting given", () => {
  const cli = parseCli([
    "--workload",
    "burst:100+poisson:2:10m@1m",
    "--profile",
    "local",
    "--keep-alive-ms=5000",
    "--worker-self-stop",
    "false",
    "--json",
    "--svg",
    "out/x.svg",
  ]);
  const replay = replayCommand(cli, 1, { policy: "keda", settings: { tickMs: 2_000 } });
  assert.equal(
    replay,
    "deno task sim --workload burst:100+poisson:2:10m@1m --profile local --policy keda " +
      "--seed 1 --keep-alive-ms 5000 --worker-self-stop=false --tick-ms 2000",
  );
  // The printed arguments parse back to the same run.
  const again = parseCli(replay.split(" ").slice(3));
  assert.deepEqual(again.settings, {
    seed: 1,
    tickMs: 2_000,
    keepAliveMs: 5_000,
    workerSelfStop: false,
  });
  assert.equal(again.policy, "keda");
  assert.equal(again.profile, "local");
  assert.equal(again.workload, cli.workload);
  // A trace file whose name the shell would split is quoted.
  assert.equal(
    replayCommand(parseCli(["--workload", "trace:my trace's.csv"]), 7),
    "deno task sim --workload 'trace:my trace'\\''s.csv' --profile aws --policy controller --seed 7",
  );
});
