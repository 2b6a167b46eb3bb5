/**
 * What a deployment costs a month: at idle (the web instance always on, its public IPv4 address,
 * every instance's EBS volume, the web tier's SQS polling) and for a workload repeated through the
 * month, whose instance-hours come from the simulator (`sim/`, its EC2 profile and the controller's
 * real policy). Prices come from a dated table kept in the repo (`deploy/prices/`), each with its
 * source page.
 * @module
 */
import {
  buildReport,
  parseDurationMs,
  parseWorkload,
  resolveSimConfig,
  simulate,
} from "../sim/mod.ts";

/** Hours in an average month (365 × 24 / 12), AWS's own convention on its price pages. */
export const HOURS_PER_MONTH = 730;
/** Each start of an instance is billed at least this long (EC2 per-second billing, Linux). */
export const BILLED_SECONDS_MIN_PER_START = 60;
/** The root volume every instance gets from the launch template (Ubuntu's AMI default). */
export const ROOT_VOLUME_GIB = 8;
/** The response router's long poll (`web/response_router.ts` receiveWaitMs, SQS's most). */
export const RESPONSE_POLL_MS = 20_000;

/**
 * SQS and S3 requests per answered image on the happy path, counted from the code:
 * - SQS: web SendMessage (web/app.ts); worker ReceiveMessage, SendMessage (answer), DeleteMessage
 *   (worker/worker_loop.ts); web ReceiveMessage and DeleteMessage of the answer
 *   (web/response_router.ts; a receive takes up to 10 answers, counted as one each: an upper bound).
 * - S3 PUT class: the upload into the in-bucket, the label into the out-bucket, the request record
 *   (web/request_ledger.ts); each lib-storage put of a small body is one PutObject.
 * - S3 GET class: the worker's GetObject of the image, and the HeadObject after each of the 3 puts
 *   (S3BlobStore.put reads the object's size back).
 */
export const REQUESTS_PER_IMAGE = { sqs: 6, s3Put: 3, s3Get: 4 } as const;
/** Per instance start: the worker's last, empty ReceiveMessage before it stops its instance. */
export const SQS_REQUESTS_PER_START = 1;

/** One priced item with its source. */
interface Priced {
  readonly source: string;
  readonly price: number;
}

/** A dated on-demand price table (`deploy/prices/<region>-<yyyy-mm>.json`). */
export interface PriceTable {
  readonly region: string;
  readonly currency: "USD";
  readonly recorded: string;
  readonly verifiedAgainstLivePages: boolean;
  readonly ec2InstanceHourly: {
    readonly source: string;
    readonly prices: Readonly<Record<string, number>>;
  };
  readonly ebsGp3GibMonth: Priced;
  readonly publicIpv4Hourly: Priced;
  readonly s3StandardGibMonth: Priced;
  readonly s3PutPer1000: Priced;
  readonly s3GetPer1000: Priced;
  readonly sqsStandardPerMillion: Priced;
}

/** The table `plan` uses unless told otherwise. */
export const PRICES_DEFAULT = new URL("../deploy/prices/us-east-1-2026-12.json", import.meta.url);

/**
 * Reads and checks a price table.
 * @param text the JSON
 * @throws {TypeError} naming the first missing or bad field
 */
export function parsePriceTable(text: string): PriceTable {
  const table = JSON.parse(text);
  const fail = (field: string) => {
    throw new TypeError(`price table: ${field} must be a non-negative number with a source`);
  };
  for (
    const key of [
      "ebsGp3GibMonth",
      "publicIpv4Hourly",
      "s3StandardGibMonth",
      "s3PutPer1000",
      "s3GetPer1000",
      "sqsStandardPerMillion",
    ]
  ) {
    const item = table[key];
    if (!(typeof item?.price === "number" && item.price >= 0 && typeof item.source === "string")) {
      fail(key);
    }
  }
  const ec2 = table.ec2InstanceHourly;
  if (typeof ec2?.source !== "string" || typeof ec2.prices !== "object") fail("ec2InstanceHourly");
  for (const [type, price] of Object.entries(ec2.prices)) {
    if (!(typeof price === "number" && price >= 0)) fail(`ec2InstanceHourly.prices.${type}`);
  }
  if (!/^\d{4}-\d\d-\d\d$/.test(table.recorded ?? "")) fail("recorded (a date)");
  return table;
}

/** One line of a cost estimate. */
export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly unitPriceUsd: number;
  readonly usd: number;
}

/** What the idle estimate depends on. */
export interface DeploymentShape {
  readonly webInstanceType: string;
  readonly appInstanceType: string;
  /** App instances in the stopped pool. */
  readonly instancesMax: number;
  /** The controller's period: one GetQueueAttributes and one dead-letter receive per tick. */
  readonly tickMs: number;
  /** How long an idle instance waits for work before it stops (the simulator's too). @default 0 */
  readonly keepAliveMs?: number;
}

function hourly(prices: PriceTable, type: string): number {
  const price = prices.ec2InstanceHourly.prices[type];
  if (price === undefined) {
    throw new RangeError(
      `no price for instance type ${type} in the price table (${
        Object.keys(prices.ec2InstanceHourly.prices).join(", ")
      }); add it with its source`,
    );
  }
  return price;
}

function line(item: string, quantity: number, unit: string, unitPriceUsd: number): CostLine {
  return { item, quantity, unit, unitPriceUsd, usd: quantity * unitPriceUsd };
}

/**
 * The monthly cost with no traffic: the web instance on all month, its public IPv4 address, the
 * root volumes of the web instance and the stopped pool, and the SQS requests the web tier makes
 * while idle (the controller's queue count and dead-letter receive each tick, the response
 * router's 20 s long poll). Empty buckets cost nothing; DescribeInstances is free. The dashboard
 * adds nothing while nobody looks: it charts what the controller reads (`service/stack.ts`); an
 * open page reads the fleet and 4 queues at most once per `DASHBOARD_STATE_REUSE_MS`.
 *
 * @param shape instance types, pool size and tick
 * @param prices the price table
 * @returns the lines; their `usd` add up to the total
 * @throws {RangeError} for an instance type the table lacks
 */
export function idleCost(shape: DeploymentShape, prices: PriceTable): CostLine[] {
  const secondsPerMonth = HOURS_PER_MONTH * 3600;
  const sqsPerSecond = 2 / (shape.tickMs / 1000) + 1 / (RESPONSE_POLL_MS / 1000);
  return [
    line(
      `web-instance (${shape.webInstanceType}), always on`,
      HOURS_PER_MONTH,
      "hours",
      hourly(prices, shape.webInstanceType),
    ),
    line(
      "Elastic IP (public IPv4 address)",
      HOURS_PER_MONTH,
      "hours",
      prices.publicIpv4Hourly.price,
    ),
    line(
      `EBS gp3 root volumes: web + ${shape.instancesMax} stopped app instances × ${ROOT_VOLUME_GIB} GiB`,
      (1 + shape.instancesMax) * ROOT_VOLUME_GIB,
      "GiB-months",
      prices.ebsGp3GibMonth.price,
    ),
    line(
      "SQS polling by the idle web tier",
      (sqsPerSecond * secondsPerMonth) / 1e6,
      "million requests",
      prices.sqsStandardPerMillion.price,
    ),
  ];
}

/** What one run of a workload used, from the simulator. */
export interface WorkloadUsage {
  readonly requests: number;
  readonly instanceSeconds: number;
  /** Boots: starts from stopped plus launches. */
  readonly starts: number;
  /** First arrival until no instance runs. */
  readonly spanMs: number;
}

/** A workload repeated through the month. */
export interface WorkloadPlan {
  /** The simulator's workload syntax (`burst:100`). */
  readonly spec: string;
  /** How often it repeats (`1h`). */
  readonly every: string;
}

/** The named workload `plan` prices by default: the course grader's burst, every hour. */
export const COURSE_HOURLY: WorkloadPlan = { spec: "burst:100", every: "1h" };

/**
 * Runs the simulator (EC2 profile, the controller's policy) on one repetition of a workload.
 * @param workload the workload and its period
 * @param shape pool size and tick
 * @param seed the simulator's seed
 * @throws {RangeError} when one run does not end (no instance running) within its period
 */
export function simulateUsage(
  workload: WorkloadPlan,
  shape: Pick<DeploymentShape, "instancesMax" | "tickMs" | "keepAliveMs">,
  seed = 1,
): WorkloadUsage {
  const config = resolveSimConfig({
    seed,
    instancesMax: shape.instancesMax,
    tickMs: shape.tickMs,
    keepAliveMs: shape.keepAliveMs ?? 0,
  }, "aws");
  const result = simulate(config, parseWorkload(workload.spec, Deno.readTextFileSync));
  const report = buildReport(result);
  const periodMs = parseDurationMs(workload.every, "--every");
  const spanMs = (result.zeroAtMs ?? Infinity) - result.firstArrivalMs;
  if (!(spanMs < periodMs)) {
    throw new RangeError(
      `one run of ${workload.spec} keeps instances running ${spanMs} ms, not less than its period ` +
        `${workload.every}: the repetitions would overlap; simulate the whole month instead`,
    );
  }
  return {
    requests: report.completed,
    instanceSeconds: report.instanceSeconds,
    starts: report.coldStarts,
    spanMs,
  };
}

/** How many times a period fits in a month. */
export function runsPerMonth(every: string): number {
  return (HOURS_PER_MONTH * 3_600_000) / parseDurationMs(every, "--every");
}

/**
 * The monthly cost a workload adds to the idle cost. EC2 bills each start at least 60 s and the
 * simulator gives the instance-seconds in all, not per start, so the app instances' cost is a
 * range: from max(instance-seconds, starts × 60 s) to instance-seconds + starts × 60 s.
 *
 * @param usage one run, from {@linkcode simulateUsage}
 * @param runs runs a month
 * @param appInstanceType the app instances' type
 * @param prices the price table
 * @returns the low and high lines (S3 and SQS the same in both)
 */
export function workloadCost(
  usage: WorkloadUsage,
  runs: number,
  appInstanceType: string,
  prices: PriceTable,
): { low: CostLine[]; high: CostLine[] } {
  const price = hourly(prices, appInstanceType);
  const minimum = usage.starts * BILLED_SECONDS_MIN_PER_START;
  const app = (seconds: number) =>
    line(`app instances (${appInstanceType})`, (seconds * runs) / 3600, "hours", price);
  const images = usage.requests * runs;
  const requests = [
    line(
      "S3 PUT requests",
      (images * REQUESTS_PER_IMAGE.s3Put) / 1000,
      "thousand",
      prices.s3PutPer1000.price,
    ),
    line(
      "S3 GET/HEAD requests",
      (images * REQUESTS_PER_IMAGE.s3Get) / 1000,
      "thousand",
      prices.s3GetPer1000.price,
    ),
    line(
      "SQS requests",
      (images * REQUESTS_PER_IMAGE.sqs + usage.starts * runs * SQS_REQUESTS_PER_START) / 1e6,
      "million",
      prices.sqsStandardPerMillion.price,
    ),
  ];
  return {
    low: [app(Math.max(usage.instanceSeconds, minimum)), ...requests],
    high: [app(usage.instanceSeconds + minimum), ...requests],
  };
}

/** The sum of some lines, in USD. */
export function totalUsd(lines: readonly CostLine[]): number {
  return lines.reduce((sum, l) => sum + l.usd, 0);
}
