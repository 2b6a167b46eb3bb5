/**
 * The model cache: converted .onnx files plus `manifest.json` (names, input sizes,
 * normalisation, sha256). Built by `deno task model:build`, read by everything that runs a model.
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { InputSpec, ModelId, OutputSpec } from "./specs.ts";

/** One built model as recorded in the manifest. */
export interface ModelEntry {
  readonly id: ModelId;
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly input: InputSpec;
  readonly outputs: readonly OutputSpec[];
  readonly source: string;
  /** sha256 of the source .bin + manifest: a change in the npm package forces a rebuild. */
  readonly sourceSha256: string;
  readonly converterVersion: number;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The manifest file's shape. */
export interface ModelManifest {
  readonly formatVersion: 1;
  readonly models: Partial<Record<ModelId, ModelEntry>>;
}

/** Where models are built and read unless `FR_MODEL_DIR` or an option says otherwise. */
export const MODEL_DIR_DEFAULT = new URL("../.cache/models/", import.meta.url);

/**
 * The model folder: `FR_MODEL_DIR` when set (a relative path from the working directory, as a
 * package's `package.env` gives it), else the project's `.cache/models/`.
 */
export function modelDir(): URL {
  const env = Deno.env.get("FR_MODEL_DIR");
  if (!env) return MODEL_DIR_DEFAULT;
  return pathToFileURL(resolve(env) + "/");
}

/** Reads the manifest, or returns an empty one when nothing was built yet. */
export async function readManifest(dir: URL = modelDir()): Promise<ModelManifest> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(new URL("manifest.json", dir)));
    if (parsed?.formatVersion !== 1 || typeof parsed.models !== "object") {
      throw new TypeError(`${dir.pathname}manifest.json is not a model manifest (formatVersion 1)`);
    }
    return parsed as ModelManifest;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { formatVersion: 1, models: {} };
    throw error;
  }
}

/** Writes the manifest atomically (temp file + rename). */
export async function writeManifest(manifest: ModelManifest, dir: URL = modelDir()): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tmp = new URL(`manifest.json.tmp-${Deno.pid}`, dir);
  await Deno.writeTextFile(tmp, JSON.stringify(manifest, null, 2) + "\n");
  await Deno.rename(tmp, new URL("manifest.json", dir));
}

/** Every model the service runs; `ensureModels` (build.ts) builds them when one is missing. */
export const MODEL_IDS: readonly ModelId[] = Object.freeze([
  "ssd_mobilenetv1",
  "tiny_face_detector",
  "face_landmark_68",
  "face_recognition",
  "blazeface",
]);

/** The lock file a first-use build holds (an OS advisory lock, released when a process dies). */
export const BUILD_LOCK_FILE = ".build.lock";

/**
 * Runs `fn` holding the model folder's exclusive build lock, so builds in several processes
 * (first-use builds, `deno task model:build`, test set-up) never interleave. The lock is the
 * operating system's (`flock`): a process that dies releases it.
 *
 * @param dir the model folder (created if missing)
 * @param fn the build
 * @returns what `fn` returns
 */
export async function withBuildLock<T>(dir: URL, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(dir, { recursive: true });
  using lock = await Deno.open(new URL(BUILD_LOCK_FILE, dir), { create: true, write: true });
  await lock.lock(true);
  return await fn();
}

/** Hex sha256 of some bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Loads one built model's bytes, checked against the manifest's sha256.
 * @throws {Deno.errors.NotFound} naming `deno task model:build` when the model was not built
 * @throws {Error} when the file does not match its recorded sha256 (a corrupt cache)
 */
export async function loadModel(
  id: ModelId,
  dir: URL = modelDir(),
): Promise<{ entry: ModelEntry; onnx: Uint8Array }> {
  const manifest = await readManifest(dir);
  const entry = manifest.models[id];
  if (!entry) {
    throw new Deno.errors.NotFound(
      `Model "${id}" is not built in ${dir.pathname}: run "deno task model:build"`,
    );
  }
  const onnx = await Deno.readFile(new URL(entry.file, dir));
  const sha = await sha256Hex(onnx);
  if (sha !== entry.sha256) {
    throw new Error(
      `Model file ${entry.file} is corrupt (sha256 ${sha}, manifest says ${entry.sha256}): ` +
        `delete ${dir.pathname} and run "deno task model:build"`,
    );
  }
  return { entry, onnx };
}
