/**
 * Building the models: `ensureModels` (on first use, from every command that loads a model) and
 * `deno task model:build [--force]` convert face-api's npm-shipped tfjs weights into ONNX files
 * in the model cache. Idempotent: a model whose source weights and converter version are
 * unchanged, and whose file still matches its sha256, is skipped. The converters are imported
 * only when something is built, so a warm start never loads them.
 * @module
 */
import {
  MODEL_IDS,
  modelDir,
  type ModelEntry,
  readManifest,
  sha256Hex,
  withBuildLock,
  writeManifest,
} from "./model_store.ts";
import type { Converter } from "./convert/types.ts";
import { runCli } from "../internal/cli.ts";

async function sourceSha256(converter: Converter): Promise<string> {
  const { FACE_API_MODEL_DIR } = await import("./convert/tfjs_weights.ts");
  const files = converter.sourceFiles ?? [
    new URL(`${converter.weights}-weights_manifest.json`, FACE_API_MODEL_DIR),
    new URL(`${converter.weights}.bin`, FACE_API_MODEL_DIR),
  ];
  const parts = await Promise.all(files.map((file) => Deno.readFile(file)));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return sha256Hex(joined);
}

async function upToDate(entry: ModelEntry | undefined, dir: URL, src: string, version: number) {
  if (!entry || entry.sourceSha256 !== src || entry.converterVersion !== version) return false;
  try {
    return (await sha256Hex(await Deno.readFile(new URL(entry.file, dir)))) === entry.sha256;
  } catch {
    return false;
  }
}

/**
 * Builds every registered model into `dir`. Callers in a process that may run beside others hold
 * {@linkcode withBuildLock}.
 * @param options.force rebuild even when up to date
 * @param options.log progress lines go here
 * @returns the manifest written
 */
export async function buildModels(
  options: { dir?: URL; force?: boolean; log?: (line: string) => void } = {},
) {
  const dir = options.dir ?? modelDir();
  const log = options.log ?? ((line: string) => console.error(line));
  // Imported only here: the converters are build-time code that a warm start never loads.
  const { CONVERTERS } = await import("./convert/registry.ts");
  await Deno.mkdir(dir, { recursive: true });
  const manifest = await readManifest(dir);
  const models = { ...manifest.models };
  for (const [index, converter] of CONVERTERS.entries()) {
    const step = `[${index + 1}/${CONVERTERS.length}] ${converter.id}`;
    const src = await sourceSha256(converter);
    if (!options.force && await upToDate(models[converter.id], dir, src, converter.version)) {
      log(`${step}: up to date`);
      continue;
    }
    const started = performance.now();
    const model = await converter.convert();
    const file = `${model.id}.onnx`;
    const tmp = new URL(`${file}.tmp-${Deno.pid}`, dir);
    await Deno.writeFile(tmp, model.onnx);
    await Deno.rename(tmp, new URL(file, dir));
    models[model.id] = {
      id: model.id,
      file,
      sha256: await sha256Hex(model.onnx),
      bytes: model.onnx.length,
      input: model.input,
      outputs: model.outputs,
      source: model.source,
      sourceSha256: src,
      converterVersion: converter.version,
      ...(model.extra ? { extra: model.extra } : {}),
    };
    const ms = Math.round(performance.now() - started);
    log(`${step}: built ${file} (${(model.onnx.length / 1e6).toFixed(1)} MB) in ${ms} ms`);
  }
  const written = { formatVersion: 1 as const, models };
  await writeManifest(written, dir);
  return written;
}

/** Options for {@linkcode ensureModels}. */
export interface EnsureModelsOptions {
  /** Progress lines (a first-use build prints one per model). @default {console.error} */
  readonly log?: (line: string) => void;
}

/**
 * Makes sure every model is built in `dir`, building them on first use: a fresh clone needs no
 * `deno task model:build`. Several processes may call it at once (a pool of workers starting
 * together): one builds under an exclusive lock on `dir/.build.lock` while the others wait on the
 * lock and then find the models built. The check when nothing is missing is one manifest read
 * and one stat per model (well under a millisecond), so every model command calls it.
 *
 * @param dir the model folder @default {modelDir()}
 * @param options where progress goes
 * @returns whether this call built anything
 * @throws {Deno.errors.PermissionDenied|Deno.errors.NotFound} when the folder cannot be written
 *   or the npm-shipped weights are missing (`deno install`)
 * @example
 * ```ts
 * await ensureModels(); // builds .cache/models/ on a fresh clone, otherwise returns at once
 * ```
 */
export async function ensureModels(
  dir: URL = modelDir(),
  options: EnsureModelsOptions = {},
): Promise<boolean> {
  if (await allBuilt(dir)) return false;
  const log = options.log ?? ((line: string) => console.error(line));
  return await withBuildLock(dir, async () => {
    if (await allBuilt(dir)) return false; // another process built them while we waited
    log(
      `models: first use, building them from the npm-shipped weights into ${dir.pathname} (once)`,
    );
    await buildModels({ dir, log: (line) => log(`models: ${line}`) });
    return true;
  });
}

async function allBuilt(dir: URL): Promise<boolean> {
  const manifest = await readManifest(dir);
  for (const id of MODEL_IDS) {
    const entry = manifest.models[id];
    if (!entry) return false;
    try {
      await Deno.stat(new URL(entry.file, dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }
  return true;
}

/** `model:build --help` (a function: the model folder is read from the environment). */
const buildUsage = () =>
  `Usage: deno task model:build [--force]

Converts face-api's npm-shipped tfjs weights into ONNX files in the model cache (${modelDir().pathname};
FR_MODEL_DIR puts them elsewhere), one line per model on stderr. A model whose source weights and
converter are unchanged, and whose file still matches its sha256, is skipped.

  --force                rebuild every model even when it is up to date
  -h, --help             this help`;

if (import.meta.main) {
  const spec = {
    name: "model:build",
    usage: buildUsage(),
    options: { force: { type: "boolean" } },
  } as const;
  Deno.exit(
    await runCli(spec, Deno.args, async ({ values }) => {
      const dir = modelDir();
      await withBuildLock(dir, () => buildModels({ dir, force: values.force }));
      console.error(`models in ${dir.pathname}`);
      return 0;
    }),
  );
}
