/**
 * Matching a face embedding against a gallery: euclidean distance to every embedding, the best
 * per person, then the best person.
 *
 * Semantics:
 * - threshold a number (default 0.6, face-api's convention): the best person is the answer when
 *   its distance is strictly below the threshold (as face-api's `FaceMatcher.findBestMatch`),
 *   otherwise `Unknown`.
 * - threshold `"none"`: closed-set nearest neighbour, the course's behaviour: the best person is
 *   always the answer (an empty gallery still gives `Unknown`).
 *
 * One deliberate difference from face-api's `FaceMatcher`: it scores a person by the *mean*
 * distance over that person's descriptors; we take the *minimum* (nearest enrolled image), so
 * adding a second, different photo of someone never makes them harder to recognise. With one
 * embedding per person the two agree exactly.
 * @module
 */
import type { Gallery } from "./gallery.ts";

/** face-api's default distance threshold for its 128-d embeddings. */
export const DISTANCE_THRESHOLD_DEFAULT = 0.6;
/** The label for a face that matches nobody within the threshold. */
export const UNKNOWN_LABEL = "Unknown";
/** The label the caller answers when no face was detected (matching never produces it). */
export const NO_FACE_LABEL = "NoFace";

/** A distance threshold, or `"none"` for closed-set nearest neighbour. */
export type Threshold = number | "none";

/** The answer for one face. */
export interface MatchResult {
  /** The person, or `Unknown`. */
  readonly label: string;
  /**
   * Euclidean distance to the nearest embedding of the best person (also reported when the
   * label is `Unknown`); `Infinity` only for an empty gallery.
   */
  readonly distance: number;
}

/** Options for {@linkcode matchEmbedding}. */
export interface MatchOptions {
  /**
   * Largest distance (exclusive) still accepted as a match, or `"none"`.
   * @default {0.6}
   */
  readonly threshold?: Threshold;
}

/**
 * Parses a threshold from user input: `none` or a non-negative finite number.
 *
 * @param text e.g. `"0.6"` or `"none"`
 * @returns the threshold
 * @throws {RangeError} naming the value when it is neither
 * @example
 * ```ts
 * parseThreshold("none"); // "none"
 * parseThreshold("0.5"); // 0.5
 * ```
 */
export function parseThreshold(text: string): Threshold {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === "none") return "none";
  const value = trimmed === "" ? NaN : Number(trimmed);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `threshold ${JSON.stringify(text)} must be a non-negative number (e.g. 0.6) or "none"`,
    );
  }
  return value;
}

function checkThreshold(threshold: Threshold): void {
  if (threshold === "none") return;
  if (typeof threshold !== "number" || Number.isNaN(threshold) || threshold < 0) {
    throw new RangeError(
      `threshold ${String(threshold)} must be a non-negative number or "none"`,
    );
  }
}

/**
 * Finds the gallery entry nearest to `query` and answers with its person when close enough.
 *
 * Runs over the gallery's flat Float32Array with no allocation per entry, and abandons an
 * entry as soon as its partial squared distance exceeds the best so far: the nearest entry
 * overall is also the best person's nearest entry, so only the minimum is needed.
 *
 * @param gallery the gallery
 * @param query the face's embedding (length = `gallery.dims`)
 * @param options the threshold
 * @returns `{label, distance}`
 * @throws {RangeError} when the query's length differs from the gallery's dims, it holds a
 *   non-finite value, or the threshold is invalid
 * @example
 * ```ts
 * const result = matchEmbedding(gallery, embedding, { threshold: "none" });
 * console.log(`${stem}:${result.label}`);
 * ```
 */
export function matchEmbedding(
  gallery: Gallery,
  query: ArrayLike<number>,
  options: MatchOptions = {},
): MatchResult {
  const threshold = options.threshold ?? DISTANCE_THRESHOLD_DEFAULT;
  checkThreshold(threshold);
  const dims = gallery.dims;
  if (query.length !== dims) {
    throw new RangeError(
      `embedding has ${query.length} values but gallery "${gallery.modelId}" holds ${dims}-d ` +
        `embeddings; use the gallery made for this embedder`,
    );
  }
  // One copy per query keeps the inner loop monomorphic whatever array type the caller passes.
  const q = new Float64Array(dims);
  for (let i = 0; i < dims; i++) {
    q[i] = query[i];
    if (!Number.isFinite(q[i])) {
      throw new RangeError(`embedding value ${i} is ${query[i]}; embeddings must be finite`);
    }
  }
  const { index, squared } = nearestEntry(gallery.vectors, gallery.entryCount, dims, q);
  if (index < 0) return { label: UNKNOWN_LABEL, distance: Infinity };
  const distance = Math.sqrt(squared);
  const label = threshold === "none" || distance < threshold
    ? gallery.names[gallery.personOfEntry[index]]
    : UNKNOWN_LABEL;
  return { label, distance };
}

// Partial sums are compared with the best every ABANDON_BLOCK dims: often enough to skip most
// of a far entry, rarely enough that the comparison costs little.
const ABANDON_BLOCK = 16;

function nearestEntry(
  vectors: Float32Array,
  entries: number,
  dims: number,
  query: Float64Array,
): { index: number; squared: number } {
  let bestIndex = -1;
  let best = Infinity;
  for (let e = 0, base = 0; e < entries; e++, base += dims) {
    let sum = 0;
    let d = 0;
    while (d < dims) {
      const end = Math.min(d + ABANDON_BLOCK, dims);
      for (; d < end; d++) {
        const diff = vectors[base + d] - query[d];
        sum += diff * diff;
      }
      if (sum >= best) break;
    }
    if (sum < best) {
      best = sum;
      bestIndex = e;
    }
  }
  return { index: bestIndex, squared: best };
}
