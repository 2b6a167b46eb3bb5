/**
 * The ceiling for any float32 WebAssembly kernel on this machine: a hand-assembled WASM SIMD
 * loop of independent multiply-add pairs (8 accumulators, no memory traffic): the inner loop of
 * MLAS's WASM SIMD SGEMM kernel with its loads taken away. onnxruntime-web's MLAS kernels are WASM
 * SIMD128 without relaxed-SIMD FMA (the 1.30 binary has no relaxed opcodes), so they can reach
 * at most this rate; `docs/benchmarks.md` compares it with the rate they do reach.
 *
 * `deno run --allow-sys bench/wasm_simd_peak.ts` prints GFLOP/s (median of {@linkcode PEAK_RUNS} calls,
 * per CPU second and per wall second); `deno bench bench/wasm_simd_peak.ts` gives deno's
 * table for one call.
 * @module
 */
import process from "node:process";
import { median } from "../internal/mod.ts";

/** Loop iterations per call: 64 FLOP each, so one call is 1.28 GFLOP (~50 ms at 25 GFLOP/s). */
export const PEAK_ITERATIONS = 20_000_000;
/** FLOPs per loop iteration: 8 accumulators × 4 lanes × (mul + add). */
export const PEAK_FLOPS_PER_ITERATION = 64;
/** Calls measured by the script mode. */
const PEAK_RUNS = 15;

/** Rows of A per step (MLAS's WASM SIMD kernel does 2). */
const ROWS = 2;
/** 4-float vectors of B per step (MLAS's kernel does 4, i.e. 16 columns). */
const COLUMN_VECTORS = 4;
const ACCUMULATORS = ROWS * COLUMN_VECTORS;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function f32(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

/**
 * The module: `peak(n: i32) -> f32` runs n iterations of the MLAS-style 2×16 micro-kernel step
 * `acc[r][j] += a[r] * b[j]` (2 rows × 4 vectors: 8 distinct products, so nothing can be shared
 * or hoisted), then `a[r] += d` in place of loading the next A values, and returns a lane of the
 * sum (so nothing is dead code). 15 live v128 values fit the 16 SSE/AVX registers without
 * spills.
 *
 * @param fused use relaxed SIMD's `f32x4.relaxed_madd` (an FMA on x86 with FMA3) instead of
 *   `f32x4.mul` + `f32x4.add`: what an onnxruntime-web build with relaxed SIMD could reach
 */
export function peakModule(fused = false): Uint8Array {
  const SIMD = 0xfd;
  const splat = [SIMD, 0x13];
  const add = [SIMD, 0xe4, 0x01];
  const mul = [SIMD, 0xe6, 0x01];
  const madd = [SIMD, 0x85, 0x02];
  const get = (i: number) => [0x20, ...leb(i)];
  const set = (i: number) => [0x21, ...leb(i)];
  // Locals: 0 = n (param), then 8 accumulators, 2 a, 4 b, d.
  const acc = (r: number, j: number) => 1 + r * COLUMN_VECTORS + j;
  const a = (r: number) => 1 + ACCUMULATORS + r;
  const b = (j: number) => 1 + ACCUMULATORS + ROWS + j;
  const d = 1 + ACCUMULATORS + ROWS + COLUMN_VECTORS;
  const constant = (x: number, local: number) => [0x43, ...f32(x), ...splat, ...set(local)];
  const body: number[] = [];
  for (let r = 0; r < ROWS; r++) body.push(...constant(1 + r / 64, a(r)));
  for (let j = 0; j < COLUMN_VECTORS; j++) body.push(...constant(1 - j / 1024, b(j)));
  body.push(...constant(1e-7, d));
  body.push(0x02, 0x40, 0x03, 0x40); // block, loop
  body.push(...get(0), 0x45, 0x0d, 0x01); // br_if 1 when n == 0
  for (let r = 0; r < ROWS; r++) {
    for (let j = 0; j < COLUMN_VECTORS; j++) {
      if (fused) body.push(...get(a(r)), ...get(b(j)), ...get(acc(r, j)), ...madd);
      else body.push(...get(acc(r, j)), ...get(a(r)), ...get(b(j)), ...mul, ...add);
      body.push(...set(acc(r, j)));
    }
  }
  for (let r = 0; r < ROWS; r++) body.push(...get(a(r)), ...get(d), ...add, ...set(a(r)));
  body.push(...get(0), 0x41, 0x01, 0x6b, ...set(0)); // n -= 1
  body.push(0x0c, 0x00, 0x0b, 0x0b); // br 0, end loop, end block
  body.push(...get(acc(0, 0)));
  for (let i = 1; i < ACCUMULATORS; i++) body.push(...get(1 + i), ...add);
  body.push(SIMD, 0x1f, 0x00, 0x0b); // f32x4.extract_lane 0, end
  const locals = [0x01, ...leb(ACCUMULATORS + ROWS + COLUMN_VECTORS + 1), 0x7b];
  const func = [...locals, ...body];
  const name = [...new TextEncoder().encode("peak")];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7d]), // (i32) -> f32
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, name.length, ...name, 0x00, 0x00]),
    ...section(10, [0x01, ...leb(func.length), ...func]),
  ]);
}

/** Instantiates the module and returns `peak`. */
export async function loadPeak(fused = false): Promise<(iterations: number) => number> {
  const module = await WebAssembly.compile(peakModule(fused) as Uint8Array<ArrayBuffer>);
  const instance = await WebAssembly.instantiate(module);
  return instance.exports.peak as (iterations: number) => number;
}

const kernels = [
  { name: "mul+add (what onnxruntime-web 1.30 runs)", run: await loadPeak(false) },
  { name: "relaxed_madd FMA (needs a relaxed-SIMD build)", run: await loadPeak(true) },
];
for (const k of kernels) k.run(1000); // compile tiers up before anything is timed

function measure(run: (iterations: number) => number): { cpu: number; wall: number } {
  const flops = PEAK_ITERATIONS * PEAK_FLOPS_PER_ITERATION;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < PEAK_RUNS + 2; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run(PEAK_ITERATIONS);
    const wallS = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    if (i < 2) continue; // warm-up
    wall.push(flops / wallS / 1e9);
    cpu.push(flops / ((c.user + c.system) / 1e6) / 1e9);
  }
  return { cpu: median(cpu), wall: median(wall) };
}

if (import.meta.main) {
  console.log(
    `WASM SIMD128 register-only GEMM step, 1 thread, median of ${PEAK_RUNS} × ` +
      `${PEAK_ITERATIONS * PEAK_FLOPS_PER_ITERATION / 1e9} GFLOP; load average ` +
      Deno.loadavg().map((x) => x.toFixed(2)).join(" "),
  );
  for (const k of kernels) {
    const { cpu, wall } = measure(k.run);
    console.log(
      `  ${k.name}: ${cpu.toFixed(1)} GFLOP/s per CPU second (wall ${wall.toFixed(1)})`,
    );
  }
} else {
  for (const k of kernels) {
    Deno.bench(`${k.name}, ${PEAK_ITERATIONS * PEAK_FLOPS_PER_ITERATION / 1e9} GFLOP`, () => {
      k.run(PEAK_ITERATIONS);
    });
  }
}
