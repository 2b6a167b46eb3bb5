/**
 * The files the model code loads at run time outside the module graph: onnxruntime-web's
 * WebAssembly build and its loader, and the image decoders' WebAssembly and Emscripten loaders.
 *
 * In the repository they are found in node_modules, beside the package entry each belongs to.
 * A packaged program (`deno task package`) has no node_modules, and in a bundle
 * `import.meta.url` and `import.meta.resolve` name the bundle, not the packages: it carries them
 * in one flat folder instead and names that folder with `FR_WASM_DIR` (its run command and its
 * systemd unit set it).
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** One run-time file. */
export interface RuntimeFile {
  /** Its name in a package's folder. */
  readonly name: string;
  /**
   * A specifier in this project's import map: the module the file belongs to (for a loader
   * script, the loader itself).
   */
  readonly specifier: string;
  /** Its name in node_modules, beside what `specifier` resolves to. */
  readonly source: string;
  /**
   * How a package carries it: `copy`, the file as it is (WebAssembly; ES modules with no imports;
   * a CommonJS script that needs only node builtins, named `.cjs` so Deno loads it as CommonJS);
   * `bundle`, the module and its dependencies bundled into one ES module.
   */
  readonly pack: "copy" | "bundle";
}

/** Every run-time file, by the name our code asks for it. */
export const RUNTIME_FILES = {
  ortWasm: {
    name: "ort-wasm-simd-threaded.wasm",
    specifier: "onnxruntime-web",
    source: "ort-wasm-simd-threaded.wasm",
    pack: "copy",
  },
  // Also where onnxruntime starts its threads' workers from when threads > 1.
  ortLoader: {
    name: "ort-wasm-simd-threaded.mjs",
    specifier: "onnxruntime-web",
    source: "ort-wasm-simd-threaded.mjs",
    pack: "copy",
  },
  // Named directly: imagescript's package entry loads a native addon we never import.
  jpegWasm: {
    name: "jpeg.wasm",
    specifier: "imagescript/wasm/any/jpeg.wasm",
    source: "jpeg.wasm",
    pack: "copy",
  },
  pngWasm: {
    name: "png.wasm",
    specifier: "imagescript/wasm/any/png.wasm",
    source: "png.wasm",
    pack: "copy",
  },
  webpLoader: {
    name: "webp_dec.js",
    specifier: "@jsquash/webp/codec/dec/webp_dec.js",
    source: "webp_dec.js",
    pack: "copy",
  },
  webpWasm: {
    name: "webp_dec.wasm",
    specifier: "@jsquash/webp/codec/dec/webp_dec.js",
    source: "webp_dec.wasm",
    pack: "copy",
  },
  avifLoader: {
    name: "avif_dec.js",
    specifier: "@jsquash/avif/codec/dec/avif_dec.js",
    source: "avif_dec.js",
    pack: "copy",
  },
  avifWasm: {
    name: "avif_dec.wasm",
    specifier: "@jsquash/avif/codec/dec/avif_dec.js",
    source: "avif_dec.wasm",
    pack: "copy",
  },
  // CommonJS that reads `__dirname` at load: bundled into an ES module it would throw, so it
  // stays CommonJS (`.cjs`).
  heifLoader: {
    name: "libheif.cjs",
    specifier: "libheif-js/libheif-wasm/libheif.js",
    source: "libheif.js",
    pack: "copy",
  },
  heifWasm: {
    name: "libheif.wasm",
    specifier: "libheif-js/libheif-wasm/libheif.js",
    source: "libheif.wasm",
    pack: "copy",
  },
  // CommonJS that requires pako.
  utif: { name: "utif2.js", specifier: "utif2", source: "UTIF.js", pack: "bundle" },
} as const satisfies Record<string, RuntimeFile>;

/** The name our code asks for a run-time file by. */
export type RuntimeFileId = keyof typeof RUNTIME_FILES;

/** The environment variable naming a package's run-time file folder. */
export const WASM_DIR_ENV = "FR_WASM_DIR";

/**
 * The package's run-time file folder (`FR_WASM_DIR`), or undefined in the repository. A process
 * not allowed to read that variable (the decoders need only read access) is in the repository.
 */
export function packagedWasmDir(): URL | undefined {
  const allowed = Deno.permissions.querySync({ name: "env", variable: WASM_DIR_ENV });
  if (allowed.state !== "granted") return undefined;
  const dir = Deno.env.get(WASM_DIR_ENV);
  if (!dir) return undefined;
  return pathToFileURL(resolve(dir) + "/"); // a relative path is from the working directory
}

/**
 * Where a run-time file is read from: the package's folder when `FR_WASM_DIR` is set, else its
 * place in node_modules.
 *
 * @param id which file
 * @returns its file URL
 */
export function runtimeFileUrl(id: RuntimeFileId): URL {
  const file: RuntimeFile = RUNTIME_FILES[id];
  const dir = packagedWasmDir();
  if (dir !== undefined) return new URL(file.name, dir);
  return new URL(file.source, import.meta.resolve(file.specifier));
}

/**
 * What to `import()` for a loader script: the package's copy when `FR_WASM_DIR` is set, else its
 * specifier (resolved through the import map).
 *
 * @param id which file
 * @returns a specifier or a file URL
 */
export function runtimeModuleSpecifier(id: RuntimeFileId): string {
  const file: RuntimeFile = RUNTIME_FILES[id];
  const dir = packagedWasmDir();
  return dir === undefined ? file.specifier : new URL(file.name, dir).href;
}
