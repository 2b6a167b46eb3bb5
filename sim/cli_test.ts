import assert from "node:assert/strict";
import { parseCli, usage, UsageError } from "./cli.ts";
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
  assert.throws(() => parseCli(["--wrokload", "x"]), /unknown flag --wrokload/);
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
