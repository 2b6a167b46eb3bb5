/**
 * Should JPEGs be decoded by jSquash's MozJPEG (libjpeg-turbo, WebAssembly) instead of
 * imagescript's jpeg-decoder (Rust, WebAssembly)? For each photo of the shared faces-public set,
 * face-api's samples and the course's images: the median decode time of each, the largest
 * per-channel pixel difference between them, and (with `--recognize`) the distance between the
 * embeddings the recognizer computes for the largest face from each decoder's pixels.
 *
 *     deno run -A bench/jpeg_decoders.ts [--recognize] [RUNS=7]
 * @module
 */
import { unzipSync } from "fflate";
import { median } from "../internal/mod.ts";
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";
import { COURSE_DATA_DIR, SHARED_DATASETS_DIR } from "../testing/datasets.ts";

const ROOT = new URL("../", import.meta.url);
const SHARED = SHARED_DATASETS_DIR;
const recognize = Deno.args.includes("--recognize");
const runs = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 7);

type Factory = (options: Record<string, unknown>) => Promise<{
  decode(bytes: Uint8Array, preserveOrientation: boolean): {
    width: number;
    height: number;
    data: Uint8ClampedArray;
  } | null;
}>;
const script = "@jsquash/jpeg/codec/dec/mozjpeg_dec.js";
const factory = (await import("@jsquash/jpeg/codec/dec/mozjpeg_dec.js")).default as Factory;
const wasm = await WebAssembly.compile(
  await Deno.readFile(new URL("mozjpeg_dec.wasm", import.meta.resolve(script))),
);

/** MozJPEG with a fresh instance per image, as the other WebAssembly decoders are run. */
async function mozjpeg(bytes: Uint8Array): Promise<RgbImage> {
  const module = await factory({
    noInitialRun: true,
    instantiateWasm: (imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance) => void) => {
      const instance = new WebAssembly.Instance(wasm, imports);
      receive(instance);
      return instance.exports;
    },
  });
  const image = module.decode(bytes, true);
  if (!image) throw new Error("MozJPEG rejected the data");
  const data = new Uint8Array(image.width * image.height * 3);
  const rgba = image.data; // a local: a property read per pixel costs 4× the decode
  for (let i = 0, o = 0; o < data.length; i += 4) {
    data[o++] = rgba[i];
    data[o++] = rgba[i + 1];
    data[o++] = rgba[i + 2];
  }
  return { width: image.width, height: image.height, data };
}

const files: [string, Uint8Array][] = [];
const demo = new URL("node_modules/@vladmandic/face-api/demo/", ROOT);
for (const name of ["sample1.jpg", "sample2.jpg"]) {
  files.push([name, await Deno.readFile(new URL(name, demo))]);
}
for (const dir of ["faces-public/openface/", "faces-public/facenet-pytorch/test_images/"]) {
  try {
    for (
      const entry of [...Deno.readDirSync(new URL(dir, SHARED))].sort((a, b) =>
        a.name < b.name ? -1 : 1
      )
    ) {
      if (entry.name.endsWith(".jpg")) {
        files.push([entry.name, await Deno.readFile(new URL(dir + entry.name, SHARED))]);
      }
    }
  } catch {
    console.error(`${dir} not found: skipped`);
  }
}
for (
  const [zip, pattern] of [["face_images_100.zip", /test_0\d\.jpg$/], [
    "lfw_gallery_100.zip",
    /\/test_\d\.jpg$/,
  ]] as const
) {
  try {
    const entries = unzipSync(await Deno.readFile(new URL(zip, COURSE_DATA_DIR)));
    for (const [name, bytes] of Object.entries(entries).sort()) {
      if (pattern.test(name) && !name.includes("MACOSX")) files.push([name, bytes]);
    }
  } catch {
    console.error(`${zip} not found: skipped`);
  }
}

async function medianMs(run: () => Promise<unknown>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times);
}

// deno-lint-ignore no-explicit-any
let recognizer: any;
if (recognize) {
  const { Recognizer } = await import("../model/recognizer.ts");
  recognizer = await Recognizer.load({});
}
const distance = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.sqrt(Array.from(a).reduce((s, v, i) => s + (v - b[i]) ** 2, 0));

console.log(
  `| image | size | imagescript ms | MozJPEG ms | max pixel diff | pixels differing |${
    recognize ? " faces | embedding distance |" : ""
  }`,
);
console.log(`| --- | --- | ---: | ---: | ---: | ---: |${recognize ? " ---: | ---: |" : ""}`);
let worstPixel = 0;
let worstEmbedding = 0;
for (const [name, bytes] of files) {
  const a = await decodeImage(bytes);
  const b = await mozjpeg(bytes);
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d) differing++;
    max = Math.max(max, d);
  }
  worstPixel = Math.max(worstPixel, max);
  const row = [
    name.slice(name.lastIndexOf("/") + 1),
    `${a.width}×${a.height}`,
    (await medianMs(() => decodeImage(bytes))).toFixed(1),
    (await medianMs(() => mozjpeg(bytes))).toFixed(1),
    String(max),
    `${((differing / a.data.length) * 100).toFixed(1)}%`,
  ];
  if (recognizer) {
    const fa = (await recognizer.analyzeImage(a)).faces;
    const fb = (await recognizer.analyzeImage(b)).faces;
    const d = fa.length && fb.length ? distance(fa[0].embedding, fb[0].embedding) : NaN;
    if (d > worstEmbedding) worstEmbedding = d;
    row.push(`${fa.length}/${fb.length}`, Number.isNaN(d) ? "-" : d.toFixed(4));
  }
  console.log(`| ${row.join(" | ")} |`);
}
console.log(`\nlargest pixel difference: ${worstPixel}`);
if (recognizer) {
  console.log(`largest embedding distance: ${worstEmbedding.toFixed(4)}`);
  await recognizer.close();
}
