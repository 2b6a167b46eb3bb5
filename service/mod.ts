/**
 * The processes: `start` (the whole stack on one machine), `serve` (the web tier and controller
 * against AWS or the embedded backend), `worker` (one app instance), `blobs` (read the buckets).
 * Each is its own entry point in this folder; this module is for code that composes a stack in
 * process (tests, benchmarks): the settings, the backend and the stack.
 * @module
 */
export {
  type AwsSettings,
  type BackendKind,
  ConfigError,
  type ModelBackend,
  parseServiceConfig,
  type ServiceCommand,
  type ServiceConfig,
  serviceNames,
  SETTINGS,
  settingsUsage,
  workerFlags,
} from "./config.ts";
export { type Backend, localDatabasePath, openBackend } from "./backend.ts";
export { type Stack, type StackOptions, startStack } from "./stack.ts";
