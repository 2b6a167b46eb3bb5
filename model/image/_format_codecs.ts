/**
 * The pixel decoders for the formats beyond JPEG and PNG, each loaded on the first image of its
 * format (a dynamic import and, for the WebAssembly ones, a compile of the `.wasm` file from
 * node_modules), so a process that only sees JPEGs never pays for them:
 * - WebP: libwebp from `@jsquash/webp`; AVIF: libavif + dav1d from `@jsquash/avif`;
 * - HEIC: libheif + libde265 from `libheif-js`;
 * - TIFF: `utif2` (JavaScript).
 * (GIF and BMP are decoded by our own code: `_gif.ts`, `_bmp.ts`.)
 *
 * The WebAssembly codecs are Emscripten modules. Each image gets a fresh instance of the
 * compiled module, so an abort or a grown heap never outlives the image that caused it, and we
 * instantiate from bytes we read ourselves: only read access to node_modules is needed, never
 * the network.
 * @module
 */
import { type RuntimeFileId, runtimeFileUrl, runtimeModuleSpecifier } from "../runtime_files.ts";

/** Decoded pixels, 4 bytes per pixel (R, G, B, A) or 3 (R, G, B). */
export interface DecodedPixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

/** Thrown when a decoder reports failure without a reason. */
export class CodecFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecFailure";
  }
}

/** Thrown when a codec's files cannot be loaded: an installation problem, not a bad image. */
export class CodecLoadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CodecLoadError";
  }
}

type EmscriptenFactory = (options: Record<string, unknown>) => Promise<Record<string, unknown>>;

interface Codec {
  factory: EmscriptenFactory;
  wasm: WebAssembly.Module;
}

const silent = () => {};

/**
 * Imports a module by a specifier Deno cannot see before run time. A literal `import("pkg")`
 * is part of the module graph: Deno loads and parses every such package when the process
 * starts, even if it is never imported (measured: +15 ms on every worker start). This way a
 * codec costs nothing until its first image. The packages are still in deno.json and
 * deno.lock, so `deno install` puts them in node_modules.
 */
function importLate(specifier: string): Promise<{ default: unknown }> {
  return import(specifier);
}

/** Loads a factory module and compiles its `.wasm`, once per process. */
function lazyCodec(loader: RuntimeFileId, wasm: RuntimeFileId) {
  let loading: Promise<Codec> | undefined;
  return (): Promise<Codec> => {
    loading ??= (async () => {
      const script = runtimeModuleSpecifier(loader);
      let url: URL | undefined;
      try {
        url = runtimeFileUrl(wasm);
        const [module, bytes] = await Promise.all([importLate(script), Deno.readFile(url)]);
        return {
          factory: module.default as EmscriptenFactory,
          wasm: await WebAssembly.compile(bytes),
        };
      } catch (error) {
        throw new CodecLoadError(
          `Cannot load the decoder ${script} (${url?.pathname}): ${error}. Run \`deno install\` ` +
            "and grant read access to node_modules (a package: set FR_WASM_DIR).",
          { cause: error },
        );
      }
    })();
    loading.catch(() => loading = undefined); // let a later image retry a failed load
    return loading;
  };
}

const webpCodec = lazyCodec("webpLoader", "webpWasm");
const avifCodec = lazyCodec("avifLoader", "avifWasm");
const heifCodec = lazyCodec("heifLoader", "heifWasm");

async function instantiate(codec: Codec): Promise<Record<string, unknown>> {
  return await codec.factory({
    noInitialRun: true,
    print: silent,
    printErr: silent,
    instantiateWasm: (
      imports: WebAssembly.Imports,
      receive: (instance: WebAssembly.Instance) => void,
    ) => {
      const instance = new WebAssembly.Instance(codec.wasm, imports);
      receive(instance);
      return instance.exports;
    },
  });
}

interface ImageDataLike {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

function fromImageData(image: ImageDataLike | null | undefined, what: string): DecodedPixels {
  if (!image || !image.data) throw new CodecFailure(`${what} rejected the data`);
  const data = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return { width: image.width, height: image.height, channels: 4, data };
}

/** Decodes a still WebP (lossy or lossless, with or without alpha) to RGBA. */
export async function decodeWebpPixels(bytes: Uint8Array): Promise<DecodedPixels> {
  const module = await instantiate(await webpCodec());
  const decode = module.decode as (bytes: Uint8Array) => ImageDataLike | null;
  return fromImageData(decode(bytes), "libwebp");
}

/** Decodes an AVIF's primary image to 8-bit RGBA (transformations not applied). */
export async function decodeAvifPixels(bytes: Uint8Array): Promise<DecodedPixels> {
  const module = await instantiate(await avifCodec());
  const decode = module.decode as (bytes: Uint8Array, bitDepth: number) => ImageDataLike | null;
  return fromImageData(decode(bytes, 8), "libavif");
}

/** libheif's embind enums are objects holding their number in `value`. */
interface HeifEnum {
  value: number;
}
interface HeifError {
  code: HeifEnum;
  message?: string;
}
interface HeifChannel {
  id: HeifEnum;
  width: number;
  height: number;
  stride: number;
  data: Uint8Array;
}
// deno-lint-ignore no-explicit-any
type Libheif = any;

function heifFailed(value: unknown): value is HeifError {
  if (!value) return true;
  return typeof value === "object" && "code" in value &&
    (value as HeifError).code?.value !== 0;
}

/**
 * Decodes a HEIC's primary image to RGB, with its rotation, mirroring and crop applied.
 * @param pixelsMax libheif's own size limit is set to this too: a grid image's output size is
 * in its item data, not in the `ispe` property our header reader checks
 */
export async function decodeHeicPixels(
  bytes: Uint8Array,
  pixelsMax: number,
): Promise<DecodedPixels> {
  const heif: Libheif = await instantiate(await heifCodec());
  const context = heif.heif_context_alloc();
  if (!context) throw new CodecFailure("libheif could not allocate a context");
  // libheif takes a side length and allows its square.
  heif.heif_context_set_maximum_image_size_limit(context, Math.floor(Math.sqrt(pixelsMax)));
  let handle: unknown;
  let image: { image: unknown; channels: HeifChannel[] } | undefined;
  try {
    const read: HeifError = heif.heif_context_read_from_memory(context, bytes);
    if (heifFailed(read)) throw new CodecFailure(`libheif: ${read?.message ?? "unreadable"}`);
    handle = heif.heif_js_context_get_primary_image_handle(context);
    if (heifFailed(handle)) throw new CodecFailure("libheif found no primary image");
    image = await heif.heif_js_decode_image2(
      handle,
      heif.heif_colorspace.heif_colorspace_RGB,
      heif.heif_chroma.heif_chroma_interleaved_RGB,
    );
    if (heifFailed(image) || !image) {
      throw new CodecFailure(`libheif: ${(image as HeifError | undefined)?.message ?? "failed"}`);
    }
    const interleaved = heif.heif_channel.heif_channel_interleaved.value;
    const plane = image.channels.find((c) => c.id?.value === interleaved);
    if (plane === undefined) throw new CodecFailure("libheif returned no interleaved RGB plane");
    const data = new Uint8Array(plane.width * plane.height * 3);
    for (let y = 0; y < plane.height; y++) {
      data.set(
        plane.data.subarray(y * plane.stride, y * plane.stride + plane.width * 3),
        y * plane.width * 3,
      );
    }
    return { width: plane.width, height: plane.height, channels: 3, data };
  } finally {
    if (image && !heifFailed(image)) heif.heif_image_release(image.image);
    if (handle && !heifFailed(handle)) heif.heif_image_handle_release(handle);
    heif.heif_context_free(context);
  }
}

let utif: Promise<Record<string, unknown>> | undefined;

function loadJs(
  cache: Promise<Record<string, unknown>> | undefined,
  load: () => Promise<Record<string, unknown>>,
  name: string,
): Promise<Record<string, unknown>> {
  const loading = cache ?? load().catch((error) => {
    throw new CodecLoadError(`Cannot load the decoder ${name}: ${error}. Run \`deno install\`.`, {
      cause: error,
    });
  });
  return loading;
}

/**
 * Decodes the first image of a TIFF to RGBA from a directory we built and checked (UTIF never
 * walks the file's own directory chain).
 */
export async function decodeTiffPixels(
  bytes: Uint8Array,
  directory: Record<string, unknown>,
): Promise<DecodedPixels> {
  utif = loadJs(utif, async () => {
    const module = await importLate(runtimeModuleSpecifier("utif"));
    return (module.default ?? module) as Record<string, unknown>;
  }, "utif2");
  utif.catch(() => utif = undefined);
  const UTIF = await utif;
  const ifd = { ...directory } as Record<string, unknown> & { width: number; height: number };
  const buffer = bytes.slice().buffer;
  (UTIF.decodeImage as (b: ArrayBuffer, ifd: unknown, all: unknown[]) => void)(buffer, ifd, [ifd]);
  if (!ifd.data) throw new CodecFailure("UTIF could not decode the image data");
  const rgba = (UTIF.toRGBA8 as (ifd: unknown) => Uint8Array)(ifd);
  return { width: ifd.width, height: ifd.height, channels: 4, data: rgba };
}

/**
 * Loads every codec of this module ahead of use (for benchmarks and tests that time decoding
 * alone; a worker never calls this, so JPEG-only work pays nothing).
 */
export async function prepareFormatCodecs(): Promise<void> {
  await Promise.all([webpCodec(), avifCodec(), heifCodec()]);
}
