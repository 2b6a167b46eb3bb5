/**
 * The service's settings, read once at start from flags (and a few environment variables) and
 * validated together, so a bad value stops the process before anything starts and the message
 * names the setting.
 * @module
 */
import { parseThreshold, type Threshold } from "../model/gallery/match.ts";
import { parseArgs } from "node:util";
import { type ResourceNames, resourceNames } from "../cloud/resource_names.ts";
// The leaf module, not web/mod.ts: workers read this file too and must not load the web tier.
import { validateApiToken } from "../web/auth.ts";

/** Where the queues, blobs and instances live. */
export type BackendKind = "local" | "aws";
/**
 * Which onnxruntime runs the model: the WASM build (runs everywhere), the native addon, or
 * `auto`: native when its addon loads on this machine, else web.
 */
export type ModelBackend = "web" | "native" | "auto";

/** Every setting of `deno task start`, `serve` and `worker`. */
export interface ServiceConfig {
  /** `--backend`: `local` (embedded: files, SQLite, local processes) or `aws`. @default {"local"} */
  readonly backend: BackendKind;
  /** `--id`: the deployment id in every resource name (`<id>-in-bucket`...). @default {"fr"} */
  readonly id: string;
  /** `--region`: the AWS region. @default {"us-east-1"} */
  readonly region: string;
  /** `--data`: the embedded backend's directory. @default {"data"} */
  readonly dataDir: string;
  /** `--port` or env `PORT`: the web tier's port. @default {8000} */
  readonly port: number;
  /**
   * `--hostname`: the web tier's listen address. @default {"127.0.0.1"} for `start` (a whole
   * stack on one machine: reachable from it only, until you say otherwise), `"0.0.0.0"` for
   * `serve` (a server behind a load balancer)
   */
  readonly hostname: string;
  /**
   * `--api-token-file FILE`, `--api-token T` or env `FR_API_TOKEN`: a bearer token every route
   * but `GET /healthz` then requires. The file form keeps it out of `ps`. @default {none: open}
   */
  readonly apiToken: string | undefined;
  /**
   * `--drain-ms`: on SIGINT/SIGTERM, how long clients waiting for answers get before the rest
   * are answered 503 with their request ids. @default {10000}
   */
  readonly drainMs: number;
  /**
   * `--uploads-per-client-max`: most uploads in progress from one client address (more → 429).
   * Behind a proxy every client has the proxy's address: raise it. @default {128}
   */
  readonly uploadsPerClientMax: number;
  /**
   * `--max`: most app instances running at once. @default the number of CPU cores for
   * `start` (one single-threaded worker per core: more only adds contention and memory), 15
   * for `serve` (the course's shape)
   */
  readonly instancesMax: number;
  /** `--keep-alive-ms`: how long an idle instance waits for work before stopping. @default {0} */
  readonly keepAliveMs: number;
  /** `--tick-ms`: the controller's period. @default {1000} */
  readonly tickMs: number;
  /**
   * `--web-instance`: which web process of the deployment this is (`serve` only). 1 runs the
   * controller and the dead-letter sweep and consumes `<id>-resp-queue`; any other number is a
   * web process only, consuming `<id>-resp-queue-<n>`, named in its request messages so workers
   * answer it there. @default {1}
   */
  readonly webInstance: number;
  /**
   * `--gallery`: the gallery file. Omitted: `<data>/faces.gallery` when it exists (where
   * `deno task enroll` writes by default), else none (every face is `Unknown`).
   */
  readonly gallery: string | undefined;
  /**
   * `--threshold`: the largest descriptor distance that still names a gallery person (else
   * `Unknown`), or `none` for the nearest person always (closed set: the course's behaviour).
   * @default {0.6}
   */
  readonly threshold: Threshold;
  /**
   * `--model-backend`: `web` (onnxruntime-web, WASM), `native` (onnxruntime-node) or `auto`
   * (native, falling back to web when the addon does not load). `web` by default because it
   * runs wherever Deno does, with no native addon; `native` starts in about half the time and
   * recognises about 3× faster (bench/worker_startup.ts, bench/service_load.ts).
   * @default {"web"}
   */
  readonly modelBackend: ModelBackend;
  /** `--threads`: inference threads per worker. @default {1} */
  readonly threads: number;
  /**
   * `--visibility-timeout-ms`: how long a received request stays hidden; a dead worker's
   * request comes back after at most this long. @default {10000}
   */
  readonly visibilityTimeoutMs: number;
  /** `--receive-count-max`: deliveries before a request goes to the dead-letter queue. @default {3} */
  readonly receiveCountMax: number;
  /** `--imds-url`: the EC2 metadata service (workers on AWS). @default {"http://169.254.169.254"} */
  readonly imdsUrl: string;
  /** `--worker-log`: where local worker processes' output goes. @default {"inherit"} */
  readonly workerOutput: "inherit" | "null";
  /** AWS only: how new app instances are launched, and where the services answer. */
  readonly aws: AwsSettings;
}

/** AWS-only settings (ignored by the local backend). */
export interface AwsSettings {
  /** `--ami`: the AMI with the worker installed; needed to launch instances. */
  readonly imageId: string | undefined;
  /** `--instance-type`. @default {"t2.micro"} */
  readonly instanceType: string;
  /** `--key-name`: an EC2 key pair for SSH. */
  readonly keyName: string | undefined;
  /** `--security-groups`: comma-separated ids. */
  readonly securityGroupIds: readonly string[];
  /** `--subnet`. */
  readonly subnetId: string | undefined;
  /** `--iam-profile`: an instance profile with S3, SQS and ec2:StopInstances rights. */
  readonly iamInstanceProfileName: string | undefined;
  /**
   * `--user-data-file`: the cloud-init script new instances boot with. Without it, one is
   * generated that runs `deno task worker` from `appDir` at every boot (`service/user_data.ts`).
   */
  readonly userDataFile: string | undefined;
  /** `--app-dir`: where the AMI holds the project. @default {"/opt/face-recognition"} */
  readonly appDir: string;
  /** `--app-user`: the account on the AMI that runs the worker. @default {"ubuntu"} */
  readonly appUser: string;
  /** `--s3-endpoint`, `--sqs-endpoint`, `--ec2-endpoint`: emulators or VPC endpoints. */
  readonly s3Endpoint: string | undefined;
  readonly sqsEndpoint: string | undefined;
  readonly ec2Endpoint: string | undefined;
  /** `--sqs-protocol json|query`: query for emulators that only speak it. @default {"json"} */
  readonly sqsProtocol: "json" | "query";
}

/** The resource names of one deployment, plus the request queue's dead-letter queue. */
export interface ServiceNames extends ResourceNames {
  /** `<id>-req-dlq`: requests that failed `receiveCountMax` times. */
  readonly deadLetterQueue: string;
  /**
   * `<id>-requests-bucket`: one small record per accepted request (the web tier's durable
   * request state, `web/request_ledger.ts`), so a restarted web tier still knows every id.
   */
  readonly requestsBucket: string;
}

/** Which command is reading the settings (their defaults differ a little). */
export type ServiceCommand = "start" | "serve" | "worker";

/** A setting with a bad value; the message names it and says what is accepted. */
export class ConfigError extends Error {
  /** The flag, e.g. `--max`. */
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

/** Most app instances any deployment may ask for (the local fleet's own cap is 32). */
export const INSTANCES_MAX_LIMIT = 32;
/** The course's maximum, `serve`'s default. */
export const INSTANCES_MAX_COURSE = 15;
/** Most web processes of one deployment (`--web-instance`). */
export const WEB_INSTANCES_MAX = 99;
/** Most inference threads per worker. */
export const THREADS_MAX = 64;

const FLAGS = {
  backend: { type: "string" },
  id: { type: "string" },
  region: { type: "string" },
  data: { type: "string" },
  port: { type: "string" },
  hostname: { type: "string" },
  "api-token": { type: "string" },
  "api-token-file": { type: "string" },
  "drain-ms": { type: "string" },
  "uploads-per-client-max": { type: "string" },
  max: { type: "string" },
  "keep-alive-ms": { type: "string" },
  "tick-ms": { type: "string" },
  "web-instance": { type: "string" },
  gallery: { type: "string" },
  threshold: { type: "string" },
  "model-backend": { type: "string" },
  threads: { type: "string" },
  "visibility-timeout-ms": { type: "string" },
  "receive-count-max": { type: "string" },
  "imds-url": { type: "string" },
  "worker-log": { type: "string" },
  ami: { type: "string" },
  "instance-type": { type: "string" },
  "key-name": { type: "string" },
  "security-groups": { type: "string" },
  subnet: { type: "string" },
  "iam-profile": { type: "string" },
  "user-data-file": { type: "string" },
  "app-dir": { type: "string" },
  "app-user": { type: "string" },
  "s3-endpoint": { type: "string" },
  "sqs-endpoint": { type: "string" },
  "ec2-endpoint": { type: "string" },
  "sqs-protocol": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Options for {@linkcode parseServiceConfig}. */
export interface ParseOptions {
  /** Environment lookup (`PORT`, `FR_API_TOKEN`). @default {(name) => Deno.env.get(name)} */
  env?: (name: string) => string | undefined;
  /** Reads `--api-token-file`. @default {Deno.readTextFileSync} */
  readTextFile?: (path: string) => string;
  /** CPU cores, for `start`'s default maximum. @default {navigator.hardwareConcurrency} */
  cores?: number;
}

/**
 * Parses and validates the command line of `start`, `serve` or `worker`.
 *
 * @param command which command (defaults differ)
 * @param args the flags, e.g. `Deno.args`
 * @param options environment and core count
 * @returns the validated settings, or `"help"` when `--help` was given
 * @throws {ConfigError} naming the first bad or unknown setting
 * @example
 * ```ts
 * const config = parseServiceConfig("start", ["--max", "4"]);
 * if (config !== "help") console.log(config.instancesMax); // 4
 * ```
 */
export function parseServiceConfig(
  command: ServiceCommand,
  args: readonly string[],
  options: ParseOptions = {},
): ServiceConfig | "help" {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: FLAGS, strict: true }));
  } catch (error) {
    const text = (error as Error).message;
    const flag = /'(-[^' ]+)/.exec(text)?.[1] ?? "arguments";
    throw new ConfigError(flag, `${text}; see --help`);
  }
  if (values.help) return "help";
  const str = (flag: keyof typeof FLAGS) => values[flag] as string | undefined;

  const backend = oneOf("--backend", str("backend") ?? "local", ["local", "aws"] as const);
  const id = str("id") ?? "fr";
  try {
    resourceNames(id);
  } catch (error) {
    throw new ConfigError("--id", (error as Error).message);
  }
  if (backend === "aws" && str("id") === undefined) {
    throw new ConfigError("--id", "required with --backend aws (it names the buckets and queues)");
  }
  const region = str("region") ?? "us-east-1";
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new ConfigError(
      "--region",
      `${JSON.stringify(region)} is not an AWS region like us-east-1`,
    );
  }
  const dataDir = str("data") ?? "data";
  if (dataDir.length === 0) throw new ConfigError("--data", "must be a directory path");
  const cores = options.cores ?? navigator.hardwareConcurrency ?? 1;
  const maxDefault = command === "start"
    ? Math.max(1, Math.min(cores, INSTANCES_MAX_LIMIT))
    : INSTANCES_MAX_COURSE;
  const webInstance = integer("--web-instance", str("web-instance") ?? "1", 1, WEB_INSTANCES_MAX);
  if (webInstance !== 1 && command !== "serve") {
    throw new ConfigError(
      "--web-instance",
      `only \`deno task serve\` takes it (extra web processes beside instance 1); got ${webInstance}`,
    );
  }
  const imdsUrl = str("imds-url") ?? "http://169.254.169.254";
  if (!/^https?:\/\/[^/\s]+/.test(imdsUrl)) {
    throw new ConfigError("--imds-url", `${JSON.stringify(imdsUrl)} is not an http(s) URL`);
  }
  return Object.freeze({
    backend,
    id,
    region,
    dataDir,
    port: integer("--port", str("port") ?? env("PORT") ?? "8000", 0, 65_535),
    hostname: hostname(str("hostname") ?? (command === "start" ? "127.0.0.1" : "0.0.0.0")),
    // Workers answer no HTTP: they neither need the secret nor should fail over it.
    apiToken: command === "worker"
      ? undefined
      : apiToken(str("api-token"), str("api-token-file"), env("FR_API_TOKEN"), options),
    drainMs: integer("--drain-ms", str("drain-ms") ?? "10000", 0, 600_000),
    uploadsPerClientMax: integer(
      "--uploads-per-client-max",
      str("uploads-per-client-max") ?? "128",
      1,
      1_000_000,
    ),
    instancesMax: integer("--max", str("max") ?? String(maxDefault), 1, INSTANCES_MAX_LIMIT),
    keepAliveMs: integer("--keep-alive-ms", str("keep-alive-ms") ?? "0", 0, 86_400_000),
    tickMs: integer("--tick-ms", str("tick-ms") ?? "1000", 10, 3_600_000),
    webInstance,
    gallery: str("gallery") ?? defaultGallery(dataDir),
    threshold: threshold(str("threshold") ?? "0.6"),
    modelBackend: oneOf(
      "--model-backend",
      str("model-backend") ?? "web",
      ["auto", "web", "native"] as const,
    ),
    threads: integer("--threads", str("threads") ?? "1", 1, THREADS_MAX),
    visibilityTimeoutMs: integer(
      "--visibility-timeout-ms",
      str("visibility-timeout-ms") ?? "10000",
      1_000,
      43_200_000,
    ),
    receiveCountMax: integer("--receive-count-max", str("receive-count-max") ?? "3", 1, 1000),
    imdsUrl,
    workerOutput: oneOf(
      "--worker-log",
      str("worker-log") ?? "inherit",
      ["inherit", "null"] as const,
    ),
    aws: Object.freeze({
      imageId: pattern(
        "--ami",
        str("ami"),
        /^ami-[0-9a-f]{8,17}$/,
        "an AMI id like ami-0123456789abcdef0",
      ),
      instanceType: pattern(
        "--instance-type",
        str("instance-type"),
        /^[a-z0-9-]+\.[a-z0-9]+$/,
        "an instance type like t2.micro",
      ) ?? "t2.micro",
      keyName: str("key-name"),
      securityGroupIds: (str("security-groups") ?? "").split(",").filter((g) => g !== "").map((g) =>
        pattern(
          "--security-groups",
          g,
          /^sg-[0-9a-f]{8,17}$/,
          "comma-separated ids like sg-0123abcd",
        )!
      ),
      subnetId: pattern(
        "--subnet",
        str("subnet"),
        /^subnet-[0-9a-f]{8,17}$/,
        "a subnet id like subnet-0123abcd",
      ),
      iamInstanceProfileName: str("iam-profile"),
      userDataFile: str("user-data-file"),
      appDir: pattern(
        "--app-dir",
        str("app-dir"),
        /^\/[A-Za-z0-9._\/-]*$/,
        "an absolute path of letters, digits, '.', '_', '-' and '/'",
      ) ?? "/opt/face-recognition",
      appUser: pattern(
        "--app-user",
        str("app-user"),
        /^[a-z_][a-z0-9_-]{0,31}$/,
        "a Linux user name",
      ) ?? "ubuntu",
      s3Endpoint: url("--s3-endpoint", str("s3-endpoint")),
      sqsEndpoint: url("--sqs-endpoint", str("sqs-endpoint")),
      ec2Endpoint: url("--ec2-endpoint", str("ec2-endpoint")),
      sqsProtocol: oneOf(
        "--sqs-protocol",
        str("sqs-protocol") ?? "json",
        ["json", "query"] as const,
      ),
    }),
  });
}

/**
 * The resource names of a deployment.
 * @param config the settings
 * @returns bucket and queue names, including the dead-letter queue
 */
export function serviceNames(config: Pick<ServiceConfig, "id">): ServiceNames {
  return {
    ...resourceNames(config.id),
    deadLetterQueue: `${config.id}-req-dlq`,
    requestsBucket: `${config.id}-requests-bucket`,
  };
}

/**
 * The flags that give a worker process the same deployment as this one (local fleets pass
 * them on each worker's command line).
 * @param config the settings
 * @returns flags for `service/worker.ts`
 */
export function workerFlags(config: ServiceConfig): string[] {
  const flags = [
    "--backend",
    config.backend,
    "--id",
    config.id,
    "--region",
    config.region,
    "--data",
    config.dataDir,
    "--keep-alive-ms",
    String(config.keepAliveMs),
    "--model-backend",
    config.modelBackend,
    "--threshold",
    String(config.threshold),
    "--threads",
    String(config.threads),
    "--visibility-timeout-ms",
    String(config.visibilityTimeoutMs),
    "--imds-url",
    config.imdsUrl,
  ];
  if (config.gallery !== undefined) flags.push("--gallery", config.gallery);
  const aws = config.aws;
  for (
    const [flag, value] of [
      ["--s3-endpoint", aws.s3Endpoint],
      ["--sqs-endpoint", aws.sqsEndpoint],
      ["--ec2-endpoint", aws.ec2Endpoint],
    ] as const
  ) if (value !== undefined) flags.push(flag, value);
  if (aws.sqsProtocol !== "json") flags.push("--sqs-protocol", aws.sqsProtocol);
  return flags;
}

/** The help text shared by the three commands. */
export const USAGE = `Settings (flags; each has a default):
  --backend local|aws          where queues, blobs and instances live (local)
  --id ID                      deployment id in resource names (fr; required for aws)
  --region R                   AWS region (us-east-1)
  --data DIR                   embedded backend directory (data)
  --port N, env PORT           web tier port (8000)
  --hostname H                 web tier listen address (start: 127.0.0.1; serve: 0.0.0.0)
  --api-token-file FILE        require "Authorization: Bearer <token>" (the file's first line)
                               on every route but /healthz; or --api-token T, or env
                               FR_API_TOKEN (visible in ps / the environment) (none: open)
  --drain-ms N                 on Ctrl-C/SIGTERM: time waiting clients get their answers before
                               the rest get 503 with their request ids (10000)
  --uploads-per-client-max N   uploads in progress from one address; more get 429 (128)
  --max N                      most app instances (start: CPU cores; serve: 15)
  --keep-alive-ms N            idle time before an instance stops (0)
  --tick-ms N                  controller period (1000)
  --web-instance N             serve only: an extra web process (2..99) beside instance 1, with
                               its own response queue; only instance 1 runs the controller (1)
  --gallery FILE               gallery file (default DIR/faces.gallery when it exists)
  --threshold T|none           match distance threshold (default 0.6; none: nearest person)
  --model-backend web|native|auto  onnxruntime build (default web; auto: native if it loads)
  --threads N                  inference threads per worker (1)
  --visibility-timeout-ms N    a dead worker's request returns after this (10000)
  --receive-count-max N        deliveries before the dead-letter queue (3)
  --imds-url URL               EC2 metadata service (http://169.254.169.254)
  --worker-log inherit|null    local workers' output (inherit)
AWS only:
  --ami AMI                    AMI with the worker installed (needed to launch instances)
  --instance-type T            (t2.micro)
  --key-name K, --security-groups sg-1,sg-2, --subnet S, --iam-profile P
  --user-data-file FILE        cloud-init script for new instances (default: generated, runs
                               the worker from --app-dir as --app-user at every boot)
  --app-dir DIR                the project's directory on the AMI (/opt/face-recognition)
  --app-user USER              the AMI account that runs the worker (ubuntu)
  --s3-endpoint / --sqs-endpoint / --ec2-endpoint URL   emulators or VPC endpoints
  --sqs-protocol json|query    (json)`;

/** A listen address: an IPv4 or IPv6 literal or a host name, nothing else. */
function hostname(text: string): string {
  return pattern(
    "--hostname",
    text,
    /^(?:[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45})$/,
    "an IP address or host name, like 127.0.0.1 or 0.0.0.0",
  )!;
}

/** The token from at most one source, read and checked once. */
function apiToken(
  flag: string | undefined,
  file: string | undefined,
  envToken: string | undefined,
  options: ParseOptions,
): string | undefined {
  if (flag !== undefined && file !== undefined) {
    throw new ConfigError("--api-token", "give --api-token or --api-token-file, not both");
  }
  let token = flag;
  let setting = "--api-token";
  if (file !== undefined) {
    setting = "--api-token-file";
    try {
      token = (options.readTextFile ?? Deno.readTextFileSync)(file).split(/\r?\n/)[0];
    } catch (error) {
      throw new ConfigError(
        setting,
        `cannot read ${JSON.stringify(file)}: ${(error as Error).message}`,
      );
    }
  } else if (token === undefined && envToken !== undefined && envToken !== "") {
    setting = "FR_API_TOKEN";
    token = envToken;
  }
  if (token === undefined) return undefined;
  try {
    validateApiToken(token);
  } catch (error) {
    throw new ConfigError(setting, (error as Error).message);
  }
  return token;
}

function integer(setting: string, text: string, min: number, max: number): number {
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      setting,
      `must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function pattern(
  setting: string,
  text: string | undefined,
  re: RegExp,
  what: string,
): string | undefined {
  if (text !== undefined && !re.test(text)) {
    throw new ConfigError(setting, `must be ${what}, got ${JSON.stringify(text)}`);
  }
  return text;
}

function url(setting: string, text: string | undefined): string | undefined {
  return pattern(setting, text, /^https?:\/\/[^/\s]+/, "an http(s) URL");
}

function oneOf<T extends string>(setting: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(
      setting,
      `must be one of ${allowed.join(", ")}, got ${JSON.stringify(text)}`,
    );
  }
  return text as T;
}

function threshold(text: string): Threshold {
  try {
    return parseThreshold(text);
  } catch (error) {
    throw new ConfigError("--threshold", (error as Error).message);
  }
}

/** The gallery `deno task enroll` writes by default, when it exists in the data directory. */
function defaultGallery(dataDir: string): string | undefined {
  const path = `${dataDir.replace(/\/+$/, "")}/faces.gallery`;
  try {
    return Deno.statSync(path).isFile ? path : undefined;
  } catch {
    return undefined;
  }
}
