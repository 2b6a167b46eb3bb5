import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as fc from "fast-check";
import { createGallery, type Gallery, type GalleryEntry } from "./gallery.ts";
import {
  DISTANCE_THRESHOLD_DEFAULT,
  matchEmbedding,
  parseThreshold,
  type Threshold,
  UNKNOWN_LABEL,
} from "./match.ts";

/** The obvious implementation: every person, every embedding, no tricks. */
function naiveBestPerPerson(gallery: Gallery, query: ArrayLike<number>): Map<string, number> {
  const best = new Map<string, number>();
  for (const { name, embedding } of gallery.entries()) {
    let sum = 0;
    for (let d = 0; d < gallery.dims; d++) sum += (embedding[d] - query[d]) ** 2;
    best.set(name, Math.min(best.get(name) ?? Infinity, Math.sqrt(sum)));
  }
  return best;
}

const PEOPLE = ["Ann", "Bob", "Cy", "Dee", "Eve"];

const caseArb = fc.integer({ min: 1, max: 40 }).chain((dims) =>
  fc.record({
    dims: fc.constant(dims),
    entries: fc.array(
      fc.record({
        name: fc.constantFrom(...PEOPLE),
        embedding: fc.array(fc.float({ min: -2, max: 2, noNaN: true }), {
          minLength: dims,
          maxLength: dims,
        }),
      }),
      { maxLength: 30 },
    ),
    query: fc.array(fc.float({ min: -2, max: 2, noNaN: true }), {
      minLength: dims,
      maxLength: dims,
    }),
    threshold: fc.oneof(
      fc.constant<Threshold>("none"),
      fc.double({ min: 0, max: 6, noNaN: true }),
    ),
  })
);

Deno.test("matchEmbedding agrees with the naive best-per-person search on any gallery", () => {
  fc.assert(
    fc.property(caseArb, ({ dims, entries, query, threshold }) => {
      const gallery = createGallery({ modelId: "m", dims }, entries as GalleryEntry[]);
      const result = matchEmbedding(gallery, query, { threshold });
      const perPerson = naiveBestPerPerson(gallery, query);
      const best = Math.min(...perPerson.values());
      if (gallery.entryCount === 0) {
        assert.deepEqual(result, { label: UNKNOWN_LABEL, distance: Infinity });
        return;
      }
      assert.equal(result.distance, best);
      const accepted = threshold === "none" || best < threshold;
      if (accepted) assert.equal(perPerson.get(result.label), best);
      else assert.equal(result.label, UNKNOWN_LABEL);
    }),
    { numRuns: 300 },
  );
});

Deno.test("matchEmbedding with threshold none answers a gallery name for every query", () => {
  fc.assert(
    fc.property(caseArb.filter((c) => c.entries.length > 0), ({ dims, entries, query }) => {
      const gallery = createGallery({ modelId: "m", dims }, entries as GalleryEntry[]);
      const { label } = matchEmbedding(gallery, query, { threshold: "none" });
      assert.ok(gallery.names.includes(label));
    }),
  );
});

Deno.test("matchEmbedding accepts strictly below the threshold and defaults to 0.6", () => {
  const gallery = createGallery({ modelId: "m", dims: 2 }, [
    { name: "Paul", embedding: [0.5, 0] },
    { name: "Emily", embedding: [0, 3] },
  ]);
  const origin = [0, 0];
  assert.equal(DISTANCE_THRESHOLD_DEFAULT, 0.6);
  assert.deepEqual(matchEmbedding(gallery, origin), { label: "Paul", distance: 0.5 });
  assert.deepEqual(matchEmbedding(gallery, origin, { threshold: 0.5 }), {
    label: UNKNOWN_LABEL,
    distance: 0.5,
  });
  assert.equal(matchEmbedding(gallery, origin, { threshold: 0.500001 }).label, "Paul");
  assert.deepEqual(matchEmbedding(gallery, [0, 10], { threshold: 0.6 }), {
    label: UNKNOWN_LABEL,
    distance: 7,
  });
  assert.deepEqual(matchEmbedding(gallery, [0, 10], { threshold: "none" }), {
    label: "Emily",
    distance: 7,
  });
});

Deno.test("matchEmbedding scores a person by the nearest of their embeddings", () => {
  const gallery = createGallery({ modelId: "m", dims: 1 }, [
    { name: "Far", embedding: [0.3] },
    { name: "Near", embedding: [5] },
    { name: "Near", embedding: [0.25] },
  ]);
  // face-api's mean rule would give Near (5 + 0.25) / 2 = 2.625 and pick Far.
  assert.deepEqual(matchEmbedding(gallery, [0]), { label: "Near", distance: 0.25 });
});

Deno.test("matchEmbedding on an empty gallery answers Unknown even with threshold none", () => {
  const empty = createGallery({ modelId: "m", dims: 3 });
  assert.deepEqual(matchEmbedding(empty, [1, 2, 3], { threshold: "none" }), {
    label: UNKNOWN_LABEL,
    distance: Infinity,
  });
});

Deno.test("matchEmbedding refuses a query of another length or with NaN, and bad thresholds", () => {
  const gallery = createGallery({ modelId: "facenet-vggface2", dims: 3 }, [
    { name: "A", embedding: [0, 0, 0] },
  ]);
  assert.throws(() => matchEmbedding(gallery, [0, 0]), /2 values but gallery "facenet-vggface2"/);
  assert.throws(() => matchEmbedding(gallery, [0, NaN, 0]), /value 1 is NaN/);
  assert.throws(() => matchEmbedding(gallery, [0, 0, 0], { threshold: -1 }), RangeError);
  assert.throws(() => matchEmbedding(gallery, [0, 0, 0], { threshold: NaN }), RangeError);
});

Deno.test("parseThreshold reads none and non-negative numbers and refuses the rest", () => {
  assert.equal(parseThreshold("none"), "none");
  assert.equal(parseThreshold(" NONE "), "none");
  assert.equal(parseThreshold("0.6"), 0.6);
  assert.equal(parseThreshold("0"), 0);
  for (const bad of ["", "-0.1", "abc", "Infinity", "NaN", "0.6x"]) {
    assert.throws(() => parseThreshold(bad), /non-negative number .* or "none"/, bad);
  }
});

Deno.test("matchEmbedding agrees with face-api's FaceMatcher when each person has one embedding", () => {
  const require = createRequire(import.meta.url);
  const faceapi = require("@vladmandic/face-api/dist/face-api.node-wasm.js");
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.constantFrom(...PEOPLE), { minLength: 1 }).chain((names) =>
        fc.tuple(
          fc.constant(names),
          fc.array(
            fc.array(fc.float({ min: -1, max: 1, noNaN: true }), {
              minLength: 8,
              maxLength: 8,
            }),
            { minLength: names.length, maxLength: names.length },
          ),
          fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
        )
      ),
      ([names, vectors, query]) => {
        const gallery = createGallery(
          { modelId: "m", dims: 8 },
          names.map((name, i) => ({ name, embedding: vectors[i] })),
        );
        const matcher = new faceapi.FaceMatcher(
          names.map((name, i) =>
            new faceapi.LabeledFaceDescriptors(name, [Float32Array.from(vectors[i])])
          ),
          DISTANCE_THRESHOLD_DEFAULT,
        );
        const theirs = matcher.findBestMatch(Float32Array.from(query));
        const ours = matchEmbedding(gallery, Float32Array.from(query));
        assert.ok(Math.abs(theirs.distance - ours.distance) < 1e-9);
        // face-api says "unknown"; we say "Unknown" as the service's answers do.
        const theirLabel = theirs.label === "unknown" ? UNKNOWN_LABEL : theirs.label;
        const tie =
          names.filter((n) =>
            Math.abs(naiveBestPerPerson(gallery, query).get(n)! - ours.distance) < 1e-12
          ).length > 1;
        if (!tie) assert.equal(ours.label, theirLabel);
      },
    ),
  );
});
