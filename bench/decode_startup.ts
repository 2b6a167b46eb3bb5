/**
 * What decoding costs a fresh process, compared between checkouts: each ROOT gets a probe that
 * imports `model/image/decode.ts`, compiles the JPEG/PNG decoders and decodes face-api's
 * 1920×1280 sample JPEG, run as `deno run --allow-read` (as a worker is), interleaved across the
 * roots; prints medians of the process wall time, that time without the JPEG decode, the import
 * and the decode. Used to check that decoding more formats costs a JPEG-only worker nothing:
 *
 *     git archive <base-commit> | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 *     deno run -A bench/decode_startup.ts /tmp/base . [RUNS=24]
 * @module
 */
import { median } from "../internal/mod.ts";

const runs = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 24);
const roots = Deno.args.filter((a) => !/^\d+$/.test(a)).map((r) => Deno.realPathSync(r));
if (roots.length === 0) throw new RangeError("usage: decode_startup.ts ROOT... [RUNS]");
const PROBE = "_decode_startup_probe.ts";
const WARM_UPS = 2;

for (const root of roots) {
  await Deno.writeTextFile(
    `${root}/${PROBE}`,
    `const t0 = performance.now();
const { decodeImage, prepareDecoders } = await import("./model/image/decode.ts");
const t1 = performance.now();
await prepareDecoders();
const bytes = await Deno.readFile("./node_modules/@vladmandic/face-api/demo/sample1.jpg");
const t2 = performance.now();
await decodeImage(bytes);
console.log(JSON.stringify({ importMs: t1 - t0, jpegMs: performance.now() - t2 }));
`,
  );
}
interface Samples {
  wall: number[];
  rest: number[];
  importMs: number[];
  jpegMs: number[];
}
const samples = new Map<string, Samples>(
  roots.map((r) => [r, { wall: [], rest: [], importMs: [], jpegMs: [] }]),
);
try {
  for (let i = 0; i < runs + WARM_UPS; i++) {
    for (const root of roots) {
      const started = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", PROBE],
        cwd: root,
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const wall = performance.now() - started;
      if (!out.success) throw new Error(`the probe failed in ${root}`);
      if (i < WARM_UPS) continue;
      const { importMs, jpegMs } = JSON.parse(new TextDecoder().decode(out.stdout));
      const s = samples.get(root)!;
      s.wall.push(wall);
      s.rest.push(wall - jpegMs);
      s.importMs.push(importMs);
      s.jpegMs.push(jpegMs);
    }
  }
} finally {
  for (const root of roots) await Deno.remove(`${root}/${PROBE}`);
}
const medianText = (xs: number[]) => median(xs).toFixed(1);
console.log(
  "| checkout | process wall ms | wall without the JPEG decode ms | import ms | JPEG decode ms |",
);
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [root, s] of samples) {
  console.log(
    `| ${root} | ${medianText(s.wall)} | ${medianText(s.rest)} | ${medianText(s.importMs)} | ${
      medianText(s.jpegMs)
    } |`,
  );
}
console.log(`\nmedians of ${runs} runs per checkout, interleaved`);
