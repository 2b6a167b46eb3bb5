/**
 * Matching and loading speed at 10, 1,000 and 100,000 entries of 128-d (face-api's size).
 * Run: `deno bench model/gallery/match_bench.ts`, or for medians
 * `deno run model/gallery/match_bench.ts` (prints median, p10 and p90 per call).
 *
 * Embeddings are seeded pseudo-random unit vectors (no Math.random: the same numbers every run).
 * Two queries per size: "stranger" is another random unit vector (far from every entry, the
 * Unknown case), "enrolled" is an entry plus small noise (the usual, matched case).
 * @module
 */
import { createGallery, decodeGallery, encodeGallery, type Gallery } from "./gallery.ts";
import { matchEmbedding } from "./match.ts";

const DIMS = 128;

/** mulberry32: a tiny seeded generator, enough for benchmark data. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unitVector(random: () => number): Float32Array {
  const v = new Float32Array(DIMS);
  for (let i = 0; i < DIMS; i++) v[i] = random() * 2 - 1;
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function makeGallery(entries: number, random: () => number): Gallery {
  function* generate() {
    for (let i = 0; i < entries; i++) yield { name: `P${i}`, embedding: unitVector(random) };
  }
  return createGallery({ modelId: "bench", dims: DIMS }, generate());
}

interface Case {
  readonly group: string;
  readonly name: string;
  readonly fn: () => void;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const entries of [10, 1_000, 100_000]) {
    const random = seeded(entries);
    const gallery = makeGallery(entries, random);
    const stranger = unitVector(random);
    const target = gallery.embeddingAt(Math.floor(entries / 2));
    const enrolled = target.map((x) => x + (random() - 0.5) * 0.02);
    const group = `match ${entries} x ${DIMS}-d`;
    out.push({
      group,
      name: `matchEmbedding stranger, ${entries} entries`,
      fn: () => void matchEmbedding(gallery, stranger, { threshold: 0.6 }),
    });
    out.push({
      group,
      name: `matchEmbedding enrolled, ${entries} entries`,
      fn: () => void matchEmbedding(gallery, enrolled, { threshold: 0.6 }),
    });
    if (entries === 100_000) {
      const bytes = encodeGallery(gallery);
      out.push({
        group: "load",
        name: `decodeGallery ${entries} entries (${bytes.length} bytes)`,
        fn: () => void decodeGallery(bytes),
      });
      out.push({
        group: "load",
        name: `encodeGallery ${entries} entries`,
        fn: () => void encodeGallery(gallery),
      });
    }
  }
  return out;
}

/**
 * `deno run`: medians (deno bench reports avg/p75 but no median). Each sample times a batch of
 * calls lasting at least 2 ms, so microsecond cases are not lost in timer resolution.
 */
function printMedians(all: readonly Case[]): void {
  const samplesMax = 100;
  const budgetMs = 5_000;
  const batchMsMin = 2;
  console.log("| case | median per call | p10 | p90 | samples x batch |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const { name, fn } of all) {
    // Warm-up (let the JIT settle) doubles as batch sizing.
    let batch = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) fn();
      if (performance.now() - t0 >= batchMsMin || batch >= 1 << 20) break;
      batch *= 2;
    }
    const samples: number[] = [];
    const start = performance.now();
    while (samples.length < samplesMax && performance.now() - start < budgetMs) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) fn();
      samples.push((performance.now() - t0) / batch);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
    const ms = (v: number) => v < 1 ? `${(v * 1000).toFixed(1)} µs` : `${v.toFixed(2)} ms`;
    console.log(
      `| ${name} | ${ms(at(0.5))} | ${ms(at(0.1))} | ${ms(at(0.9))} | ` +
        `${samples.length} x ${batch} |`,
    );
  }
}

if (import.meta.main) {
  printMedians(cases());
} else {
  for (const { group, name, fn } of cases()) Deno.bench(name, { group }, fn);
}
