/**
 * Test helper: makes sure the ONNX models are built (idempotent, under a second when they are)
 * so `deno task test` works on a fresh clone without a separate build step.
 * @module
 */
import { buildModels } from "../model/build.ts";

let built: Promise<unknown> | undefined;

/** Builds the models into the default cache once per process. */
export function ensureModels(): Promise<unknown> {
  built ??= buildModels({ log: () => {} });
  return built;
}
