/**
 * Opens the ports (blob store, message queue, fleet) of the configured backend, and makes sure
 * the deployment's buckets and queues exist. The embedded backend keeps everything under one data
 * directory: `cloud.db` (queues and fleet state, SQLite WAL), `blobs/objects.db` (buckets and
 * objects, photos inline; SQLite WAL) and `blobs/.data/` (objects over 256 KiB, a file each).
 * @module
 */
import { resolve } from "node:path";
import type { BlobStore } from "../cloud/blob_store.ts";
import { type Clock, systemClock } from "../cloud/clock.ts";
import type { Fleet } from "../cloud/fleet.ts";
import { type DiskSpace, diskSpace } from "../cloud/local/disk_space.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { SqliteRecordStore } from "../cloud/local/sqlite_record_store.ts";
import { BlobRecordStore, type RecordStore } from "../cloud/record_store.ts";
import type { MessageQueue } from "../cloud/message_queue.ts";
import { REQUEST_MESSAGE_BYTES_MAX } from "../protocol/mod.ts";
import { DEPLOYMENT_TAG } from "../cloud/resource_names.ts";
import { ConfigError, type ServiceConfig, type ServiceNames, workerFlags } from "./config.ts";
import { workerUserData } from "./user_data.ts";

/** The ports of one process. */
export interface Backend {
  readonly blobs: BlobStore;
  readonly queue: MessageQueue;
  /** Absent in a local worker, which stops by exiting and needs no fleet. */
  readonly fleet: Fleet | undefined;
  readonly clock: Clock;
  /**
   * The local fleet, when the backend is local and a fleet was asked for: the same handle as
   * `fleet`, for what only local processes have (`processId`, for fault tests and operators).
   */
  readonly localFleet: LocalFleet | undefined;
  /**
   * The room left on the data directory's file system (embedded backend only: S3 and SQS do
   * not fill up). The storage monitor asks it every second.
   * @throws {StorageError} when the file system cannot be asked
   */
  readonly diskSpace: (() => DiskSpace) | undefined;
  /**
   * Durable records named `space` (`<id>-requests-bucket`): embedded, rows of the queue database
   * (written in the same transaction as a send asked for in the same turn); AWS, objects of the
   * bucket of that name (created by {@linkcode ensureResources}).
   */
  openRecords(space: string): Promise<RecordStore>;
  /**
   * Opens another handle on the same fleet, as another controller process would (the caller
   * closes it). Local handles also supervise the worker processes they start.
   * @throws {TypeError} when this backend was opened without a fleet
   */
  openFleet(): Promise<Fleet>;
  /** Closes every port. */
  close(): Promise<void>;
}

/**
 * The ports of a process that opened the fleet (`fleet: true`: the web tier with its
 * controller, an EC2 worker that stops itself).
 */
export type FleetBackend = Backend & { readonly fleet: Fleet };

/** Options for {@linkcode openBackend}. */
export interface OpenBackendOptions {
  /** Open the fleet too (web tier + controller, or an EC2 worker that stops itself). */
  fleet: boolean;
  /** Local fleet: the worker command line (program and arguments, before the service flags). */
  workerCommand?: readonly string[];
  /**
   * This process serves many HTTP requests at once (web tier): the embedded stores then never
   * block its event loop waiting for another process's lock. @default {false}
   */
  servesRequests?: boolean;
  /** Local fleet: how long a stopped worker gets before SIGKILL. @default {10000} */
  stopGraceMs?: number;
  /**
   * This process may launch instances (web tier + controller), so AWS needs `--ami`; a worker
   * only stops its own instance. @default {options.fleet}
   */
  launches?: boolean;
}

/** The worker entry point, for local fleets. */
export const WORKER_MAIN = new URL("./worker.ts", import.meta.url).pathname;

/**
 * Names the worker program instead of {@linkcode WORKER_MAIN}: a packaged web tier's
 * (`deno task package`) is a bundle whose `import.meta.url` is the bundle's own, so its run
 * command names the packaged worker beside it.
 */
export const WORKER_MAIN_ENV = "FR_WORKER_MAIN";

/**
 * The default local worker command line: this Deno, no type check, the worker entry point
 * (`FR_WORKER_MAIN`, resolved from the working directory, when set). `--cached-only` because
 * workers start often and must never wait on the network.
 */
export function defaultWorkerCommand(): string[] {
  const main = Deno.env.get(WORKER_MAIN_ENV);
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--cached-only",
    main ? resolve(main) : WORKER_MAIN,
  ];
}

/**
 * Opens the configured backend's ports.
 *
 * @param config the validated settings
 * @param options whether to open the fleet, and the local worker command line
 * @returns the ports; close them with `close()`
 * @throws {ConfigError} when the backend cannot be used as configured
 * @throws {CloudError} when the data directory or the cloud refuses
 */
export function openBackend(
  config: ServiceConfig,
  options: OpenBackendOptions & { fleet: true },
): Promise<FleetBackend>;
export function openBackend(config: ServiceConfig, options: OpenBackendOptions): Promise<Backend>;
export async function openBackend(
  config: ServiceConfig,
  options: OpenBackendOptions,
): Promise<Backend> {
  if (config.backend === "aws") return await openAws(config, options);
  const dataDir = resolve(config.dataDir);
  const db = localDatabasePath(config);
  // A web tier serves many requests at once: a lock wait must not block its event loop.
  const busyBlockMs = options.servesRequests ? 0 : undefined;
  const blobs = await LocalBlobStore.open(`${dataDir}/blobs`, { busyBlockMs });
  const queue = await SqliteMessageQueue.open(db, { busyBlockMs });
  const openFleet = () =>
    LocalFleet.open(db, {
      command: [
        ...(options.workerCommand ?? defaultWorkerCommand()),
        ...workerFlags({ ...config, dataDir }),
      ],
      output: config.workerOutput,
      stopGraceMs: options.stopGraceMs,
      busyBlockMs,
    });
  const localFleet = options.fleet ? await openFleet() : undefined;
  return {
    blobs,
    queue,
    fleet: localFleet,
    localFleet,
    diskSpace: () => diskSpace(dataDir),
    openRecords: (space) => SqliteRecordStore.open(queue, space),
    clock: systemClock,
    openFleet() {
      if (!options.fleet) throw new TypeError("this backend was opened without a fleet");
      return openFleet();
    },
    async close() {
      await localFleet?.close();
      await queue.close();
      await blobs.close();
    },
  };
}

/** The embedded backend's queue and fleet database: `<data>/cloud.db`. */
export function localDatabasePath(config: Pick<ServiceConfig, "dataDir">): string {
  return `${resolve(config.dataDir)}/cloud.db`;
}

/** A stand-in AMI for processes that never launch instances (a worker only stops its own). */
const NO_LAUNCH_AMI = "ami-00000000000000000";

async function openAws(config: ServiceConfig, options: OpenBackendOptions): Promise<Backend> {
  // Imported here so embedded processes never load the AWS SDK (it costs worker start-up time).
  const aws = await import("../cloud/aws/mod.ts");
  const { region } = config;
  const a = config.aws;
  const blobs = new aws.S3BlobStore({
    region,
    endpoint: a.s3Endpoint,
    forcePathStyle: a.s3Endpoint !== undefined,
    checksums: a.s3Endpoint !== undefined ? "when_required" : "when_supported",
  });
  const queue = new aws.SqsMessageQueue({
    region,
    endpoint: a.sqsEndpoint,
    protocol: a.sqsProtocol,
  });
  const userData = a.userDataFile === undefined
    ? workerUserData(config, { appDir: a.appDir, user: a.appUser })
    : await readUserData(a.userDataFile);
  const openFleet = () => {
    if ((options.launches ?? true) && a.imageId === undefined && a.launchTemplate === undefined) {
      throw new ConfigError(
        "--ami",
        "required with --backend aws (or --launch-template): the AMI new app instances boot",
      );
    }
    return Promise.resolve(
      new aws.Ec2Fleet({
        region,
        endpoint: a.ec2Endpoint,
        launch: a.launchTemplate !== undefined ? { launchTemplateName: a.launchTemplate } : {
          imageId: a.imageId ?? NO_LAUNCH_AMI,
          instanceType: a.instanceType,
          keyName: a.keyName,
          securityGroupIds: a.securityGroupIds,
          subnetId: a.subnetId,
          iamInstanceProfileName: a.iamInstanceProfileName,
          userData,
        },
        // The deployment's own instances only: the web role may start and stop nothing else.
        tags: { [DEPLOYMENT_TAG]: config.id },
      }),
    );
  };
  const fleet = options.fleet ? await openFleet() : undefined;
  return {
    blobs,
    queue,
    fleet,
    localFleet: undefined,
    diskSpace: undefined,
    openRecords: (space) => Promise.resolve(new BlobRecordStore(blobs, space)),
    clock: systemClock,
    openFleet() {
      if (!options.fleet) throw new TypeError("this backend was opened without a fleet");
      return openFleet();
    },
    async close() {
      await fleet?.close();
      await queue.close();
      await blobs.close();
    },
  };
}

async function readUserData(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError("--user-data-file", `cannot read ${path}: ${(error as Error).message}`);
  }
}

/**
 * Creates the deployment's buckets and queues if missing (idempotent; an existing queue keeps
 * its settings). The request queue takes metadata only (1 KB) and dead-letters a request after
 * `receiveCountMax` deliveries.
 *
 * @param backend the ports
 * @param names the deployment's resource names
 * @param config visibility timeout and receive limit
 */
export async function ensureResources(
  backend: Pick<Backend, "blobs" | "queue">,
  names: ServiceNames,
  config: Pick<ServiceConfig, "visibilityTimeoutMs" | "receiveCountMax">,
): Promise<void> {
  await backend.blobs.ensureBucket(names.inBucket);
  await backend.blobs.ensureBucket(names.outBucket);
  // Where S3 keeps the request records (the embedded backend keeps them in the queue database;
  // the empty bucket costs a row).
  await backend.blobs.ensureBucket(names.requestsBucket);
  await backend.queue.ensureQueue(names.deadLetterQueue);
  await backend.queue.ensureQueue(names.requestQueue, {
    messageBytesMax: REQUEST_MESSAGE_BYTES_MAX,
    visibilityTimeoutMs: config.visibilityTimeoutMs,
    deadLetter: { queue: names.deadLetterQueue, receiveCountMax: config.receiveCountMax },
  });
  await backend.queue.ensureQueue(names.responseQueue);
}
