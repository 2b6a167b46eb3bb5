/**
 * The pixel decoders: imagescript's WebAssembly JPEG (Rust jpeg-decoder 0.1.22) and PNG
 * decoders, driven directly. imagescript's main entry loads a native addon (needs
 * `--allow-ffi`) and its `wasm/node/*.js` wrappers read `process.env` at import (needs
 * `--allow-env`), so we instantiate the `.wasm` files ourselves: this needs only read access
 * to the package folder.
 * @module
 */
import { CodecLoadError } from "./_format_codecs.ts";
import { runtimeFileUrl } from "../runtime_files.ts";

/** One decoder instance's exports (jpeg.wasm). */
interface JpegExports {
  memory: WebAssembly.Memory;
  walloc(bytes: number): number;
  wlen(): number;
  decode(pointer: number, bytes: number, width: number, height: number): number;
  decode_width(handle: number): number;
  decode_height(handle: number): number;
  decode_format(handle: number): number;
  decode_buffer(handle: number): number;
}

/** One decoder instance's exports (png.wasm, emscripten). */
interface PngExports {
  memory: WebAssembly.Memory;
  walloc(bytes: number): number;
  decode(pointer: number, bytes: number): number;
  width(): number;
  height(): number;
}

/** Pixel layouts jpeg-decoder returns. */
export const JPEG_PIXELS_L8 = 0;
export const JPEG_PIXELS_RGB24 = 1;
export const JPEG_PIXELS_CMYK32 = 2;

/** Decoded JPEG samples, viewed in the (disposable) decoder's memory. */
export interface JpegPixels {
  width: number;
  height: number;
  format: number;
  samples: Uint8Array;
}

/** Decoded PNG pixels as RGBA8, viewed in the (disposable) decoder's memory. */
export interface PngPixels {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** Thrown when a decoder reports failure without a reason (its status code is all we get). */
export class DecoderFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecoderFailure";
  }
}

let jpegModule: Promise<WebAssembly.Module> | undefined;
let pngModule: Promise<WebAssembly.Module> | undefined;

async function compile(name: "jpeg" | "png"): Promise<WebAssembly.Module> {
  let url: URL | undefined;
  try {
    url = runtimeFileUrl(name === "jpeg" ? "jpegWasm" : "pngWasm");
    return await WebAssembly.compile(await Deno.readFile(url));
  } catch (error) {
    throw new CodecLoadError(
      `Cannot load imagescript's ${name} decoder from ${url?.pathname}: ${error}. ` +
        "Run `deno install` and grant read access to node_modules (a package: set FR_WASM_DIR).",
      { cause: error },
    );
  }
}

function loadJpeg(): Promise<WebAssembly.Module> {
  jpegModule ??= compile("jpeg");
  jpegModule.catch(() => jpegModule = undefined); // let a later call retry a failed load
  return jpegModule;
}

function loadPng(): Promise<WebAssembly.Module> {
  pngModule ??= compile("png");
  pngModule.catch(() => pngModule = undefined);
  return pngModule;
}

/**
 * Compiles both decoders ahead of the first image (about a second of WebAssembly compilation on
 * a busy small machine), so a process can do it while it loads other things.
 */
export async function prepareDecoders(): Promise<void> {
  await Promise.all([loadJpeg(), loadPng()]);
}

/**
 * Decodes a JPEG with a fresh decoder instance. A fresh instance per image costs ~0.2 ms and
 * means a trap (a Rust panic) or a grown memory never outlives the image that caused it.
 * @throws {DecoderFailure} when the decoder rejects the data; WebAssembly.RuntimeError on a trap
 */
export async function decodeJpegPixels(bytes: Uint8Array): Promise<JpegPixels> {
  const instance = new WebAssembly.Instance(await loadJpeg());
  const wasm = instance.exports as unknown as JpegExports;
  const input = wasm.walloc(bytes.length);
  new Uint8Array(wasm.memory.buffer, input, bytes.length).set(bytes);
  const handle = wasm.decode(input, bytes.length, 0, 0);
  if (handle === 0 || handle === 1) throw new DecoderFailure("jpeg-decoder rejected the data");
  return {
    width: wasm.decode_width(handle),
    height: wasm.decode_height(handle),
    format: wasm.decode_format(handle),
    samples: new Uint8Array(wasm.memory.buffer, wasm.decode_buffer(handle), wasm.wlen()),
  };
}

/**
 * Decodes a PNG (any colour type, bit depth, interlacing) to RGBA8 with a fresh instance.
 * @throws {DecoderFailure} when the decoder returns a negative status
 */
export async function decodePngPixels(bytes: Uint8Array): Promise<PngPixels> {
  const imports = { env: { emscripten_notify_memory_growth() {} } };
  const instance = new WebAssembly.Instance(await loadPng(), imports);
  const wasm = instance.exports as unknown as PngExports;
  const input = wasm.walloc(bytes.length);
  new Uint8Array(wasm.memory.buffer).set(bytes, input);
  const status = wasm.decode(input, bytes.length);
  if (status < 0) throw new DecoderFailure(`the PNG decoder returned status ${status}`);
  const width = wasm.width();
  const height = wasm.height();
  return { width, height, rgba: new Uint8Array(wasm.memory.buffer, status, width * height * 4) };
}
