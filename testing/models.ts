/**
 * Test helper: makes sure the ONNX models are built (idempotent, under a second when they are)
 * so `deno task test` works on a fresh clone without a separate build step.
 * @module
 */
import { buildModels } from "../model/build.ts";
import { modelDir, withBuildLock } from "../model/model_store.ts";

let built: Promise<unknown> | undefined;

/** Builds the models into the default cache once per process. */
export function ensureModels(): Promise<unknown> {
  // Rebuilds stale models too (a converter changed), unlike the first-use check; under the lock,
  // because worker processes that tests start may be building at the same moment.
  built ??= withBuildLock(modelDir(), () => buildModels({ log: () => {} }));
  return built;
}
