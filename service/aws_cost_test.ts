/**
 * The cost arithmetic, checked by hand on tiny inputs, and the simulator run behind a workload's
 * instance-hours. What only AWS can tell: whether the prices in deploy/prices/ are still the live
 * ones (they were recorded without internet access), and the bill itself.
 */
import assert from "node:assert/strict";
import {
  idleCost,
  parsePriceTable,
  PRICES_DEFAULT,
  type PriceTable,
  runsPerMonth,
  simulateUsage,
  totalUsd,
  workloadCost,
} from "./aws_cost.ts";

/** Round numbers, so each figure below can be checked with pencil and paper. */
const PRICES: PriceTable = {
  region: "us-east-1",
  currency: "USD",
  recorded: "2026-12-03",
  verifiedAgainstLivePages: false,
  ec2InstanceHourly: { source: "test", prices: { "t2.micro": 0.01, "t3.micro": 0.036 } },
  ebsGp3GibMonth: { source: "test", price: 0.1 },
  publicIpv4Hourly: { source: "test", price: 0.005 },
  s3StandardGibMonth: { source: "test", price: 0.023 },
  s3PutPer1000: { source: "test", price: 0.005 },
  s3GetPer1000: { source: "test", price: 0.0004 },
  sqsStandardPerMillion: { source: "test", price: 0.4 },
};

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

Deno.test("idleCost adds the web instance, its address, every root volume and the idle polling", () => {
  const lines = idleCost(
    { webInstanceType: "t2.micro", appInstanceType: "t3.micro", instancesMax: 2, tickMs: 1000 },
    PRICES,
  );
  // 730 h × $0.01; 730 h × $0.005; (1 web + 2 app) × 8 GiB × $0.1;
  // (2 per 1 s tick + 1 per 20 s) × 730 × 3600 s = 5,387,400 requests × $0.4 / million.
  close(lines[0].usd, 7.3, "web");
  close(lines[1].usd, 3.65, "address");
  close(lines[2].usd, 2.4, "volumes");
  close(lines[3].usd, 2.15496, "sqs");
  close(totalUsd(lines), 7.3 + 3.65 + 2.4 + 2.15496, "total");
});

Deno.test("workloadCost bills each start at least 60 s and counts S3 and SQS requests per image", () => {
  const usage = { requests: 2, instanceSeconds: 90, starts: 2, spanMs: 30_000 };
  const { low, high } = workloadCost(usage, 10, "t3.micro", PRICES);
  // low: max(90 s, 2 starts × 60 s) = 120 s × 10 runs = 1/3 h × $0.036 = $0.012
  close(low[0].usd, 0.012, "app low");
  // high: (90 + 120) s × 10 = 2100 s = 0.58333 h × $0.036 = $0.021
  close(high[0].usd, 0.021, "app high");
  // 20 images × 3 PUTs = 60 → $0.0003; × 4 GETs = 80 → $0.000032;
  // SQS: 20 × 6 + 20 starts × 1 = 140 → $0.000056.
  close(low[1].usd, 0.0003, "s3 put");
  close(low[2].usd, 0.000032, "s3 get");
  close(low[3].usd, 0.000056, "sqs");
  close(totalUsd(high) - totalUsd(low), 0.009, "the range is the app instances' only");
  assert.throws(
    () => workloadCost(usage, 1, "m9.huge", PRICES),
    /no price for instance type m9\.huge/,
  );
});

Deno.test("runsPerMonth counts a period's repetitions in 730 hours", () => {
  assert.equal(runsPerMonth("1h"), 730);
  assert.equal(runsPerMonth("30m"), 1460);
});

Deno.test("simulateUsage runs the controller's policy in the EC2 profile on one repetition", () => {
  const one = simulateUsage({ spec: "burst:1", every: "1h" }, { instancesMax: 15, tickMs: 1000 });
  assert.equal(one.requests, 1);
  // One start at least; the EC2 profile's 1 s lag on queue counts can make the policy start a
  // second one for the same request (the simulator says 2 at seed 1): it is billed as such.
  assert.ok(one.starts >= 1 && one.starts <= 2, String(one.starts));
  assert.ok(one.instanceSeconds > 10 && one.instanceSeconds < 120, String(one.instanceSeconds));
  const burst = simulateUsage({ spec: "burst:100", every: "1h" }, {
    instancesMax: 15,
    tickMs: 1000,
  });
  assert.equal(burst.requests, 100);
  assert.equal(burst.starts, 15, "the burst starts the whole pool of 15");
  const kept = simulateUsage({ spec: "burst:100", every: "1h" }, {
    instancesMax: 15,
    tickMs: 1000,
    keepAliveMs: 60_000,
  });
  assert.ok(
    kept.instanceSeconds > burst.instanceSeconds + 15 * 50,
    `--keep-alive-ms 60000 keeps 15 instances about a minute longer: ${kept.instanceSeconds} vs ${burst.instanceSeconds}`,
  );
  assert.throws(
    () => simulateUsage({ spec: "burst:100", every: "10s" }, { instancesMax: 15, tickMs: 1000 }),
    /would overlap/,
  );
});

Deno.test("the repo's price table parses and names a source page for every price", () => {
  const table = parsePriceTable(Deno.readTextFileSync(PRICES_DEFAULT));
  assert.equal(table.region, "us-east-1");
  assert.match(table.recorded, /^2026-12-\d\d$/);
  for (const [key, value] of Object.entries(table)) {
    if (typeof value === "object" && value !== null && "source" in value) {
      assert.match(String(value.source), /^https:\/\/aws\.amazon\.com\//, key);
    }
  }
  assert.ok(table.ec2InstanceHourly.prices["t2.micro"] > 0);
  assert.throws(
    () => parsePriceTable(JSON.stringify({ ...table, ebsGp3GibMonth: { price: 1 } })),
    /ebsGp3GibMonth/,
  );
});
