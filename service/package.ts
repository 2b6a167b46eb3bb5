/**
 * `deno task package [--out DIR]`: the app-instance worker and the web tier as programs that run
 * with only `deno` installed — no repository, no node_modules, no network. `deno compile` would
 * make single binaries but downloads its runtime (`deno task compile`, not possible offline);
 * this works offline:
 *
 * - `worker.js`, `serve.js`: `deno bundle` of `service/worker.ts` and `service/serve.ts`, every
 *   npm package inside (onnxruntime-node stays out: it is a native addon; the package runs the
 *   WebAssembly build, `--model-backend web`, the default);
 * - `models/`: the built models and their manifest (the `.onnx` files a worker runs);
 * - `wasm/`: what the model code loads at run time outside the module graph
 *   (`model/runtime_files.ts`): onnxruntime-web's `.wasm` and `.mjs`, the JPEG/PNG, WebP, AVIF
 *   and HEIC decoders' WebAssembly and loaders, the TIFF decoder;
 * - `faces.gallery` with `--gallery FILE`: the enrolled people, for `--gallery faces.gallery`
 *   (a path from the package folder, where both programs run);
 * - `package.env`: `FR_MODEL_DIR`, `FR_WASM_DIR`, `FR_WORKER_MAIN`, relative to the package
 *   folder, because inside a bundle `import.meta.url` is the bundle's, so the repository's
 *   defaults (`.cache/models/`, node_modules) do not apply;
 * - `manifest.json`: versions, the command to run each program, and every file's size and
 *   sha256; and `DIR.tar.gz` of it all, the artifact to upload.
 *
 * Run a program from the package folder:
 * `deno run -A --unstable-no-legacy-abort --env-file=package.env worker.js --help` (the manifest
 * has each program's command).
 * @module
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { ensureModels } from "../model/build.ts";
import { modelDir, readManifest, sha256Hex } from "../model/model_store.ts";
import {
  RUNTIME_FILES,
  type RuntimeFile,
  type RuntimeFileId,
  runtimeFileUrl,
  WASM_DIR_ENV,
} from "../model/runtime_files.ts";
import { WORKER_MAIN_ENV } from "./backend.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Where `deno task package` writes unless `--out` says otherwise. */
export const PACKAGE_DIR_DEFAULT = join(ROOT, "out/package");

/** The programs a package holds: its file and the repository entry point it bundles. */
export const PACKAGE_PROGRAMS = {
  worker: { file: "worker.js", entry: "service/worker.ts" },
  serve: { file: "serve.js", entry: "service/serve.ts" },
} as const;

/** The gallery's name in a package built with one. */
export const PACKAGE_GALLERY_FILE = "faces.gallery";

/** The package's environment file, read by `deno run --env-file`. */
export const PACKAGE_ENV_FILE = "package.env";

/**
 * The command that runs a packaged program, from the package folder: the package has no
 * deno.json, so the unstable features the repository's deno.json turns on become flags.
 *
 * @param program which program
 * @param unstable deno.json's `unstable` list
 * @returns the command line (settings follow it)
 */
export function packageCommand(
  program: keyof typeof PACKAGE_PROGRAMS,
  unstable: readonly string[],
): string[] {
  return [
    "deno",
    "run",
    "-A",
    ...unstable.map((feature) => `--unstable-${feature}`),
    `--env-file=${PACKAGE_ENV_FILE}`,
    PACKAGE_PROGRAMS[program].file,
  ];
}

/** One file of a package, as its manifest lists it. */
export interface PackageFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** A package's `manifest.json`. */
export interface PackageManifest {
  readonly formatVersion: 1;
  /** The Deno that built it (the bundles are plain JavaScript; the same major runs them). */
  readonly deno: string;
  /** The repository commit it was built from, with `-dirty` for uncommitted changes. */
  readonly commit: string;
  /** The npm packages pinned in deno.json when it was built. */
  readonly npm: Readonly<Record<string, string>>;
  /** Each program's command, run from the package folder. */
  readonly programs: Readonly<Record<string, { file: string; command: string[] }>>;
  readonly files: readonly PackageFile[];
}

/** What {@linkcode buildPackage} made and how long it took. */
export interface BuiltPackage {
  readonly dir: string;
  readonly tarball: string;
  readonly manifest: PackageManifest;
  readonly buildMs: number;
}

/** Options for {@linkcode buildPackage}. */
export interface BuildPackageOptions {
  /** The package folder (replaced); the tarball is written beside it. @default {PACKAGE_DIR_DEFAULT} */
  readonly outDir?: string;
  /** A gallery file to carry as `faces.gallery`. @default {none} */
  readonly gallery?: string;
  /** Progress lines. @default {console.error} */
  readonly log?: (line: string) => void;
}

/**
 * Builds a package: bundles, models, run-time files, environment file, manifest and tarball.
 *
 * @param options where to write it and where progress goes
 * @returns the package's folder, tarball and manifest
 * @throws {Error} when `deno bundle`, `tar` or `git` fails, with its output
 */
export async function buildPackage(options: BuildPackageOptions = {}): Promise<BuiltPackage> {
  const startedMs = performance.now();
  const dir = resolve(options.outDir ?? PACKAGE_DIR_DEFAULT);
  const log = options.log ?? ((line: string) => console.error(line));
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.mkdir(join(dir, "models"), { recursive: true });
  await Deno.mkdir(join(dir, "wasm"));

  for (const [name, program] of Object.entries(PACKAGE_PROGRAMS)) {
    await bundle(join(ROOT, program.entry), join(dir, program.file));
    log(`package: ${program.file} (${name})`);
  }
  await copyModels(join(dir, "models"), log);
  if (options.gallery !== undefined) {
    await Deno.copyFile(options.gallery, join(dir, PACKAGE_GALLERY_FILE));
    log(`package: ${PACKAGE_GALLERY_FILE} from ${options.gallery}`);
  }
  await addRuntimeFiles(join(dir, "wasm"));
  log(`package: wasm/ (${Object.keys(RUNTIME_FILES).length} run-time files)`);
  await Deno.writeTextFile(
    join(dir, PACKAGE_ENV_FILE),
    [
      "# Read by `deno run --env-file`; paths are relative to the package folder.",
      "FR_MODEL_DIR=models",
      `${WASM_DIR_ENV}=wasm`,
      `${WORKER_MAIN_ENV}=${PACKAGE_PROGRAMS.worker.file}`,
      "",
    ].join("\n"),
  );
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const manifest: PackageManifest = {
    formatVersion: 1,
    deno: Deno.version.deno,
    commit: await gitCommit(),
    npm: npmPins(config.imports ?? {}),
    programs: Object.fromEntries(
      Object.entries(PACKAGE_PROGRAMS).map(([name, program]) => [
        name,
        {
          file: program.file,
          command: packageCommand(name as keyof typeof PACKAGE_PROGRAMS, config.unstable ?? []),
        },
      ]),
    ),
    files: await listFiles(dir),
  };
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const tarball = `${dir}.tar.gz`;
  await run("tar", ["-czf", tarball, "-C", dirname(dir), basename(dir)]);
  const buildMs = Math.round(performance.now() - startedMs);
  log(`package: ${tarball} (${((await Deno.stat(tarball)).size / 1e6).toFixed(1)} MB)`);
  return { dir, tarball, manifest, buildMs };
}

async function bundle(entry: string, output: string): Promise<void> {
  await run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    // A native addon (and its prebuilt binaries for every platform) cannot be bundled; the
    // packaged worker's `--model-backend auto` finds it missing and runs the WebAssembly build.
    "--external",
    "onnxruntime-node",
    "--output",
    output,
    entry,
  ]);
}

/** The built models (built now if missing) and their manifest. */
async function copyModels(out: string, log: (line: string) => void): Promise<void> {
  const from = modelDir();
  await ensureModels(from, { log });
  const manifest = await readManifest(from);
  for (const entry of Object.values(manifest.models)) {
    if (entry !== undefined) await Deno.copyFile(new URL(entry.file, from), join(out, entry.file));
  }
  await Deno.copyFile(new URL("manifest.json", from), join(out, "manifest.json"));
  log(`package: models/ from ${from.pathname}`);
}

/** Each run-time file copied, or bundled into one self-contained ES module. */
async function addRuntimeFiles(out: string): Promise<void> {
  await Deno.mkdir(join(ROOT, "out"), { recursive: true });
  const entries = await Deno.makeTempDir({ dir: join(ROOT, "out"), prefix: ".package-" });
  try {
    for (const [id, file] of Object.entries(RUNTIME_FILES) as [RuntimeFileId, RuntimeFile][]) {
      if (file.pack === "copy") {
        await Deno.copyFile(runtimeFileUrl(id), join(out, file.name));
        continue;
      }
      // An entry inside the repository, so the bundler resolves the specifier through deno.json.
      const entry = join(entries, `${file.name}.ts`);
      await Deno.writeTextFile(
        entry,
        `import loader from ${JSON.stringify(file.specifier)};\nexport default loader;\n`,
      );
      await bundle(entry, join(out, file.name));
    }
  } finally {
    await Deno.remove(entries, { recursive: true });
  }
}

async function listFiles(dir: string, under = dir): Promise<PackageFile[]> {
  const files: PackageFile[] = [];
  for await (const entry of Deno.readDir(under)) {
    const path = join(under, entry.name);
    if (entry.isDirectory) files.push(...await listFiles(dir, path));
    else {
      const bytes = await Deno.readFile(path);
      files.push({
        path: relative(dir, path),
        bytes: bytes.length,
        sha256: await sha256Hex(bytes),
      });
    }
  }
  return files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

async function gitCommit(): Promise<string> {
  try {
    const head = (await run("git", ["rev-parse", "HEAD"])).trim();
    const dirty = (await run("git", ["status", "--porcelain", "--untracked-files=no"])).trim();
    return dirty === "" ? head : `${head}-dirty`;
  } catch {
    return "unknown"; // not a git checkout (a source archive)
  }
}

function npmPins(imports: Record<string, string>): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const [name, specifier] of Object.entries(imports)) {
    if (specifier.startsWith("npm:")) pins[name] = specifier.slice(specifier.lastIndexOf("@") + 1);
  }
  return pins;
}

async function run(program: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(program, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!result.success) {
    throw new Error(
      `${basename(program)} ${args.join(" ")} failed (exit ${result.code}): ` +
        decoder.decode(result.stderr).trim(),
    );
  }
  return decoder.decode(result.stdout);
}

const USAGE = `Usage: deno task package [--out DIR] [--gallery FILE]

Builds the worker and the web tier as bundles with the models and the WebAssembly files they
load (and FILE as faces.gallery: pass --gallery faces.gallery to serve), into DIR (default
out/package) and DIR.tar.gz. Run from DIR with only deno installed:
  deno run -A --unstable-no-legacy-abort --env-file=package.env worker.js [settings]
  deno run -A --unstable-no-legacy-abort --env-file=package.env serve.js [settings]
(DIR/manifest.json lists these commands, the versions, and every file's sha256.)`;

async function main(args: readonly string[]): Promise<number> {
  let outDir: string | undefined;
  let gallery: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--help" || args[i] === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (args[i] === "--out" && args[i + 1] !== undefined) outDir = args[++i];
    else if (args[i] === "--gallery" && args[i + 1] !== undefined) gallery = args[++i];
    else {
      console.error(`package: unknown argument ${args[i]}\n\n${USAGE}`);
      return 2;
    }
  }
  const built = await buildPackage({ outDir, gallery });
  const bytes = built.manifest.files.reduce((n, f) => n + f.bytes, 0);
  console.log(JSON.stringify({
    event: "packaged",
    dir: built.dir,
    tarball: built.tarball,
    files: built.manifest.files.length,
    bytes,
    tarballBytes: (await Deno.stat(built.tarball)).size,
    buildMs: built.buildMs,
  }));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
