/**
 * The face gallery: named people, each with one or more embeddings, bound to the embedder that
 * made them (model id + embedding length), and its on-disk form.
 *
 * File format (version 1), chosen to be compact and safe to load:
 *
 * | bytes | content |
 * | --- | --- |
 * | 0..7 | magic `FGAL\r\n\x1a\n` (the `\r\n\x1a` catch text-mode or line-ending mangling) |
 * | 8..11 | header length H, uint32 little-endian |
 * | 12..12+H | header: UTF-8 JSON, space-padded so the body starts on a 4-byte boundary |
 * | then | person index per entry, uint32 LE × entries |
 * | then | embeddings, float32 LE × entries × dims, row-major |
 *
 * The header is `{format, version, modelId, dims, entries, people, source, bodyCrc32}` where
 * `people` lists the distinct names. Why not pickle or plain JSON: loading runs no code (JSON.parse
 * and a typed-array copy), the header is readable with `head -c 4096`, and float32 binary is ~3×
 * smaller than decimal JSON and round-trips exactly. Every field is validated on load and the body
 * carries a CRC-32, so a truncated or damaged file is refused with a message, never half-used.
 * @module
 */
import { crc32 } from "./_crc32.ts";
import { GalleryFileError, GalleryMismatchError, type GalleryModel } from "./errors.ts";

export type { GalleryModel } from "./errors.ts";

/** Most embeddings a gallery holds (all people together). */
export const GALLERY_ENTRIES_MAX = 100_000;
/** Longest embedding accepted. */
export const GALLERY_DIMS_MAX = 4096;
/**
 * Most float32 values in one gallery (entries × dims): 100,000 × 512, i.e. a 204.8 MB body, so a
 * gallery always fits comfortably in a worker's memory.
 */
export const GALLERY_FLOATS_MAX = 100_000 * 512;
/** Longest person name, in Unicode code points. */
export const PERSON_NAME_CHARS_MAX = 64;
/** Longest model id. */
export const MODEL_ID_CHARS_MAX = 128;
/** Longest free-text `source` note stored in a gallery. */
export const GALLERY_SOURCE_CHARS_MAX = 2048;
/** Largest header accepted when loading (100,000 names of 64 code points fit with room). */
export const GALLERY_HEADER_BYTES_MAX = 32 * 1024 * 1024;
/** Largest gallery file accepted when loading, derived from the limits above. */
export const GALLERY_FILE_BYTES_MAX = 12 + GALLERY_HEADER_BYTES_MAX + GALLERY_ENTRIES_MAX * 4 +
  GALLERY_FLOATS_MAX * 4;
/** The file format version written and read. */
export const GALLERY_FORMAT_VERSION = 1;
/**
 * Labels the service itself answers with; a person may not be called that, or an answer would be
 * ambiguous.
 */
export const RESERVED_LABELS: readonly string[] = ["Unknown", "NoFace"];

const MAGIC = new Uint8Array([0x46, 0x47, 0x41, 0x4c, 0x0d, 0x0a, 0x1a, 0x0a]);
const PREAMBLE_BYTES = 12;
const FORMAT_NAME = "face-gallery";
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Names travel in plain-text answers `<stem>:<label>` and become folder names, so only letters,
// marks, digits, space and `' . _ -` are allowed: no colon, newline, slash or control character.
const PERSON_NAME_PATTERN = /^[\p{L}\p{N}](?:[\p{L}\p{M}\p{N} '._-]*[\p{L}\p{M}\p{N}.])?$/u;
// The same rule restricted to ASCII: most names, checked without Unicode tables (a 100,000-name
// gallery header is validated on every load).
const ASCII_PERSON_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9 '._-]*[A-Za-z0-9.])?$/;
const MODEL_ID_PATTERN = /^[\x21-\x7e]+$/;
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Says what is wrong with a person name, or `undefined` when it is acceptable.
 *
 * @param name the candidate name
 * @returns a problem description, or `undefined`
 * @example
 * ```ts
 * personNameProblem("Mary-Kate"); // undefined
 * personNameProblem("a:b"); // "may only contain ..."
 * ```
 */
export function personNameProblem(name: string): string | undefined {
  if (typeof name !== "string") return `must be a string, got ${typeof name}`;
  if (name.length === 0) return "is empty";
  // Code units bound code points from above: count code points only when it can matter.
  const chars = name.length > PERSON_NAME_CHARS_MAX ? [...name].length : name.length;
  if (chars > PERSON_NAME_CHARS_MAX) {
    return `has ${chars} characters, more than PERSON_NAME_CHARS_MAX (${PERSON_NAME_CHARS_MAX})`;
  }
  const ascii = ASCII_PERSON_NAME_PATTERN.test(name);
  if (!ascii && !PERSON_NAME_PATTERN.test(name)) {
    return "may only contain letters, digits, spaces and ' . _ - (starting with a letter or " +
      "digit, no colon, slash, newline or control character)";
  }
  if (!ascii && name !== name.normalize("NFC")) return "is not in Unicode NFC form";
  if (RESERVED_LABELS.some((r) => r.toLowerCase() === name.toLowerCase())) {
    return `is reserved (the service answers ${RESERVED_LABELS.join(" and ")} itself)`;
  }
  return undefined;
}

/**
 * Checks a person name (see {@linkcode personNameProblem}).
 *
 * @param name the candidate name
 * @throws {RangeError} naming the value and the rule it breaks
 */
export function assertPersonName(name: string): void {
  const problem = personNameProblem(name);
  if (problem) throw new RangeError(`person name ${JSON.stringify(name)} ${problem}`);
}

function modelProblem(model: GalleryModel): string | undefined {
  const { modelId, dims } = model;
  if (typeof modelId !== "string" || !MODEL_ID_PATTERN.test(modelId)) {
    return `modelId ${JSON.stringify(modelId)} must be printable ASCII without spaces`;
  }
  if (modelId.length > MODEL_ID_CHARS_MAX) {
    return `modelId has ${modelId.length} characters, more than MODEL_ID_CHARS_MAX (${MODEL_ID_CHARS_MAX})`;
  }
  if (!Number.isInteger(dims) || dims < 1 || dims > GALLERY_DIMS_MAX) {
    return `dims ${dims} must be an integer in [1, GALLERY_DIMS_MAX=${GALLERY_DIMS_MAX}]`;
  }
  return undefined;
}

function sourceProblem(source: string): string | undefined {
  if (typeof source !== "string") return `source must be a string, got ${typeof source}`;
  if (source.length > GALLERY_SOURCE_CHARS_MAX) {
    return `source has ${source.length} characters, more than GALLERY_SOURCE_CHARS_MAX (${GALLERY_SOURCE_CHARS_MAX})`;
  }
  if (CONTROL_CHARS.test(source)) return "source contains control characters";
  return undefined;
}

/** One embedding with the person it belongs to. */
export interface GalleryEntry {
  readonly name: string;
  readonly embedding: ArrayLike<number>;
}

/** What a new gallery is bound to, plus a free-text provenance note. */
export interface GalleryInit extends GalleryModel {
  /**
   * Where the embeddings came from (shown by tools, kept in the file).
   * @default {""}
   */
  readonly source?: string;
}

/**
 * An immutable gallery held as flat typed arrays so matching allocates nothing per entry.
 * Build one with {@linkcode createGallery}, {@linkcode addToGallery} or
 * {@linkcode decodeGallery}; the constructor only checks structural invariants.
 */
export class Gallery implements GalleryModel {
  /** The embedder that made every embedding here. */
  readonly modelId: string;
  /** Embedding length. */
  readonly dims: number;
  /** Free-text provenance. */
  readonly source: string;
  /** Distinct people, in first-enrolled order. */
  readonly names: readonly string[];
  /** Entry index → index into {@linkcode names}. */
  readonly personOfEntry: Uint32Array;
  /** Embeddings, `entryCount × dims`, row-major. Treat as read-only. */
  readonly vectors: Float32Array;

  /**
   * @param model model id, dims and source (already validated)
   * @param names distinct person names (already validated)
   * @param personOfEntry person index of each entry
   * @param vectors the embeddings, entries × dims
   * @throws {RangeError} when the arrays disagree (a programmer error)
   */
  constructor(
    model: GalleryInit,
    names: readonly string[],
    personOfEntry: Uint32Array,
    vectors: Float32Array,
  ) {
    if (vectors.length !== personOfEntry.length * model.dims) {
      throw new RangeError(
        `Gallery: ${vectors.length} floats do not hold ${personOfEntry.length} entries of ` +
          `${model.dims} dims`,
      );
    }
    for (const p of personOfEntry) {
      if (p >= names.length) {
        throw new RangeError(`Gallery: person index ${p} out of ${names.length} names`);
      }
    }
    this.modelId = model.modelId;
    this.dims = model.dims;
    this.source = model.source ?? "";
    this.names = Object.freeze([...names]);
    this.personOfEntry = personOfEntry;
    this.vectors = vectors;
  }

  /** Number of embeddings. */
  get entryCount(): number {
    return this.personOfEntry.length;
  }

  /** Number of distinct people. */
  get personCount(): number {
    return this.names.length;
  }

  /** The `index`-th embedding, as a view (no copy). */
  embeddingAt(index: number): Float32Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.entryCount) {
      throw new RangeError(`entry index ${index} is outside [0, ${this.entryCount})`);
    }
    return this.vectors.subarray(index * this.dims, (index + 1) * this.dims);
  }

  /** The person of the `index`-th embedding. */
  nameAt(index: number): string {
    if (!Number.isInteger(index) || index < 0 || index >= this.entryCount) {
      throw new RangeError(`entry index ${index} is outside [0, ${this.entryCount})`);
    }
    return this.names[this.personOfEntry[index]];
  }

  /** All embeddings of one person (views), empty when the name is not enrolled. */
  embeddingsOf(name: string): Float32Array[] {
    const person = this.names.indexOf(name);
    const out: Float32Array[] = [];
    if (person < 0) return out;
    for (let i = 0; i < this.entryCount; i++) {
      if (this.personOfEntry[i] === person) out.push(this.embeddingAt(i));
    }
    return out;
  }

  /** Every entry in order, embeddings as views. */
  *entries(): IterableIterator<{ readonly name: string; readonly embedding: Float32Array }> {
    for (let i = 0; i < this.entryCount; i++) {
      yield { name: this.nameAt(i), embedding: this.embeddingAt(i) };
    }
  }
}

/**
 * Builds a gallery from entries, validating every name and value against the named limits.
 * Several embeddings per person are kept as they are (not averaged): matching takes the best
 * per person, so a profile and a frontal photo each keep matching their own kind of query.
 *
 * @param init model id, dims and source
 * @param entries embeddings with their person names
 * @returns the gallery
 * @throws {RangeError} for a bad model id/dims, a bad name, a wrong-length or non-finite
 *   embedding, or more than GALLERY_ENTRIES_MAX / GALLERY_FLOATS_MAX
 * @example
 * ```ts
 * const g = createGallery({ modelId: "face-api/face_recognition@1.7.15", dims: 2 }, [
 *   { name: "Paul", embedding: [0, 1] },
 * ]);
 * g.entryCount; // 1
 * ```
 */
export function createGallery(init: GalleryInit, entries: Iterable<GalleryEntry> = []): Gallery {
  const problem = modelProblem(init) ?? sourceProblem(init.source ?? "");
  if (problem) throw new RangeError(`createGallery: ${problem}`);
  const dims = init.dims;
  const entryMax = Math.min(GALLERY_ENTRIES_MAX, Math.floor(GALLERY_FLOATS_MAX / dims));
  const names: string[] = [];
  const personIndex = new Map<string, number>();
  // Grown by doubling and written in place: no per-entry allocation, even at 100,000 entries.
  let persons = new Uint32Array(16);
  let vectors = new Float32Array(16 * dims);
  let count = 0;
  for (const entry of entries) {
    if (count >= entryMax) {
      throw new RangeError(
        `createGallery: more than ${entryMax} entries of ${dims} dims ` +
          `(GALLERY_ENTRIES_MAX=${GALLERY_ENTRIES_MAX}, GALLERY_FLOATS_MAX=${GALLERY_FLOATS_MAX})`,
      );
    }
    let person = personIndex.get(entry.name);
    if (person === undefined) {
      assertPersonName(entry.name);
      person = names.length;
      names.push(entry.name);
      personIndex.set(entry.name, person);
    }
    if (count === persons.length) {
      const grown = Math.min(count * 2, entryMax);
      persons = copyInto(new Uint32Array(grown), persons);
      vectors = copyInto(new Float32Array(grown * dims), vectors);
    }
    writeEmbedding(vectors, entry, dims, count);
    persons[count++] = person;
  }
  return new Gallery(
    init,
    names,
    persons.slice(0, count),
    vectors.slice(0, count * dims),
  );
}

function copyInto<T extends Uint32Array | Float32Array>(target: T, source: T): T {
  target.set(source as never);
  return target;
}

function writeEmbedding(
  vectors: Float32Array,
  entry: GalleryEntry,
  dims: number,
  index: number,
): void {
  const { embedding } = entry;
  if (embedding?.length !== dims) {
    throw new RangeError(
      `createGallery: entry ${index} (${entry.name}) has ${embedding?.length} values, ` +
        `the gallery's dims are ${dims}`,
    );
  }
  const base = index * dims;
  for (let i = 0; i < dims; i++) {
    vectors[base + i] = embedding[i];
    // Checked after the float32 rounding, so 1e39 (Infinity in float32) is caught too.
    if (!Number.isFinite(vectors[base + i])) {
      throw new RangeError(
        `createGallery: entry ${index} (${entry.name}) value ${i} is ${embedding[i]}, ` +
          `embeddings must be finite float32 numbers`,
      );
    }
  }
}

/**
 * A new gallery with `entries` appended (same model, dims and source).
 *
 * @param gallery the existing gallery
 * @param entries embeddings to add
 * @returns the combined gallery
 * @throws {RangeError} as {@linkcode createGallery}
 */
export function addToGallery(gallery: Gallery, entries: Iterable<GalleryEntry>): Gallery {
  return createGallery(gallery, concat(gallery.entries(), entries));
}

function* concat<T>(a: Iterable<T>, b: Iterable<T>): Iterable<T> {
  yield* a;
  yield* b;
}

/**
 * Serialises a gallery in the version-1 file format described in this module's docs.
 *
 * @param gallery the gallery
 * @returns the file's bytes
 */
export function encodeGallery(gallery: Gallery): Uint8Array {
  const body = new Uint8Array(gallery.entryCount * 4 + gallery.vectors.length * 4);
  const view = new DataView(body.buffer);
  gallery.personOfEntry.forEach((p, i) => view.setUint32(i * 4, p, true));
  const floatsAt = gallery.entryCount * 4;
  if (HOST_LITTLE_ENDIAN) {
    body.set(
      new Uint8Array(
        gallery.vectors.buffer,
        gallery.vectors.byteOffset,
        gallery.vectors.byteLength,
      ),
      floatsAt,
    );
  } else {
    gallery.vectors.forEach((v, i) => view.setFloat32(floatsAt + i * 4, v, true));
  }
  const header = {
    format: FORMAT_NAME,
    version: GALLERY_FORMAT_VERSION,
    modelId: gallery.modelId,
    dims: gallery.dims,
    entries: gallery.entryCount,
    people: gallery.names,
    source: gallery.source,
    bodyCrc32: crc32(body),
  };
  let headerText = JSON.stringify(header);
  const headerBytesRaw = new TextEncoder().encode(headerText).length;
  headerText += " ".repeat((4 - ((PREAMBLE_BYTES + headerBytesRaw) % 4)) % 4);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(PREAMBLE_BYTES + headerBytes.length + body.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, PREAMBLE_BYTES);
  out.set(body, PREAMBLE_BYTES + headerBytes.length);
  return out;
}

/** The parsed, validated header of a gallery file. */
export interface GalleryHeader extends GalleryModel {
  readonly entries: number;
  readonly people: readonly string[];
  readonly source: string;
  readonly bodyCrc32: number;
  /** Byte offset of the body in the file. */
  readonly bodyOffset: number;
}

/**
 * Reads and validates a gallery file's header only (cheap: lets a caller refuse a mismatched
 * gallery before touching the body).
 *
 * @param bytes the file's bytes (at least the preamble and header)
 * @param path the file name used in error messages
 * @default path "<bytes>"
 * @returns the header
 * @throws {GalleryFileError} when the preamble or header is invalid
 */
export function decodeGalleryHeader(bytes: Uint8Array, path = "<bytes>"): GalleryHeader {
  const fail = (problem: string): never => {
    throw new GalleryFileError(path, problem);
  };
  if (bytes.length < PREAMBLE_BYTES) fail(`only ${bytes.length} bytes, too short for a header`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    fail("it does not start with the gallery magic bytes FGAL\\r\\n\\x1a\\n (wrong file type?)");
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .getUint32(8, true);
  if (headerLength > GALLERY_HEADER_BYTES_MAX) {
    fail(
      `header length ${headerLength} exceeds GALLERY_HEADER_BYTES_MAX (${GALLERY_HEADER_BYTES_MAX})`,
    );
  }
  if (PREAMBLE_BYTES + headerLength > bytes.length) {
    fail(`header claims ${headerLength} bytes but the file has ${bytes.length} (truncated?)`);
  }
  let header: Record<string, unknown> = {};
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength),
    );
    header = JSON.parse(text);
  } catch (error) {
    fail(`header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  if (header.format !== FORMAT_NAME) fail(`header format is ${JSON.stringify(header.format)}`);
  if (header.version !== GALLERY_FORMAT_VERSION) {
    fail(
      `format version ${JSON.stringify(header.version)} is not ${GALLERY_FORMAT_VERSION}, ` +
        `the one this program reads`,
    );
  }
  const model = { modelId: header.modelId as string, dims: header.dims as number };
  const problem = modelProblem(model) ?? sourceProblem(header.source as string);
  if (problem) fail(problem);
  const entries = header.entries;
  if (typeof entries !== "number" || !Number.isInteger(entries) || entries < 0) {
    fail(`entries ${JSON.stringify(entries)} is not a count`);
  }
  const entryCount = entries as number;
  if (entryCount > GALLERY_ENTRIES_MAX || entryCount * model.dims > GALLERY_FLOATS_MAX) {
    fail(
      `${entryCount} entries of ${model.dims} dims exceed GALLERY_ENTRIES_MAX ` +
        `(${GALLERY_ENTRIES_MAX}) or GALLERY_FLOATS_MAX (${GALLERY_FLOATS_MAX})`,
    );
  }
  const people = header.people;
  if (!Array.isArray(people)) fail("people is not a list");
  const seen = new Set<string>();
  for (const name of people as unknown[]) {
    const nameProblem = personNameProblem(name as string);
    if (nameProblem) fail(`person name ${JSON.stringify(name)} ${nameProblem}`);
    if (seen.has(name as string)) fail(`person ${JSON.stringify(name)} is listed twice`);
    seen.add(name as string);
  }
  const crc = header.bodyCrc32;
  if (typeof crc !== "number" || !Number.isInteger(crc) || crc < 0 || crc > 0xffffffff) {
    fail(`bodyCrc32 ${JSON.stringify(crc)} is not a CRC-32`);
  }
  return {
    ...model,
    entries: entryCount,
    people: people as string[],
    source: header.source as string,
    bodyCrc32: crc as number,
    bodyOffset: PREAMBLE_BYTES + headerLength,
  };
}

/**
 * Checks that a gallery (or header) was made by the caller's embedder.
 *
 * @param found the gallery or its header
 * @param expected the caller's model id and dims
 * @param path the file name used in the error message
 * @default path "<gallery>"
 * @throws {GalleryMismatchError} naming both models
 */
export function assertGalleryModel(
  found: GalleryModel,
  expected: GalleryModel,
  path = "<gallery>",
): void {
  if (found.modelId !== expected.modelId || found.dims !== expected.dims) {
    throw new GalleryMismatchError(
      path,
      { modelId: found.modelId, dims: found.dims },
      { modelId: expected.modelId, dims: expected.dims },
    );
  }
}

/** Options for {@linkcode decodeGallery}. */
export interface DecodeGalleryOptions {
  /**
   * The file name used in error messages.
   * @default {"<bytes>"}
   */
  readonly path?: string;
  /**
   * When given, a gallery made for another model or size is refused before its body is read.
   * @default {undefined}
   */
  readonly expected?: GalleryModel;
}

/**
 * Parses and fully validates gallery file bytes.
 *
 * @param bytes the file's bytes
 * @param options path for messages, expected model
 * @returns the gallery (owning copies of the data)
 * @throws {GalleryFileError} for any corruption (bad magic, header, length, checksum, values)
 * @throws {GalleryMismatchError} when `expected` is given and does not match
 */
export function decodeGallery(bytes: Uint8Array, options: DecodeGalleryOptions = {}): Gallery {
  const path = options.path ?? "<bytes>";
  const header = decodeGalleryHeader(bytes, path);
  if (options.expected) assertGalleryModel(header, options.expected, path);
  const fail = (problem: string): never => {
    throw new GalleryFileError(path, problem);
  };
  const floats = header.entries * header.dims;
  const bodyBytes = header.entries * 4 + floats * 4;
  const body = bytes.subarray(header.bodyOffset);
  if (body.length !== bodyBytes) {
    fail(
      `body has ${body.length} bytes, expected ${bodyBytes} for ${header.entries} entries of ` +
        `${header.dims} dims (truncated or appended to?)`,
    );
  }
  if (crc32(body) !== header.bodyCrc32) fail("body checksum (CRC-32) does not match (damaged?)");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const personOfEntry = new Uint32Array(header.entries);
  const used = new Uint8Array(header.people.length);
  for (let i = 0; i < header.entries; i++) {
    const person = view.getUint32(i * 4, true);
    if (person >= header.people.length) {
      fail(`entry ${i} names person ${person} of ${header.people.length}`);
    }
    personOfEntry[i] = person;
    used[person] = 1;
  }
  const unused = used.indexOf(0);
  if (unused >= 0) fail(`person ${JSON.stringify(header.people[unused])} has no embedding`);
  const floatsAt = header.entries * 4;
  const vectors = new Float32Array(floats);
  if (HOST_LITTLE_ENDIAN) {
    new Uint8Array(vectors.buffer).set(body.subarray(floatsAt));
  } else {
    for (let i = 0; i < floats; i++) vectors[i] = view.getFloat32(floatsAt + i * 4, true);
  }
  for (let i = 0; i < floats; i++) {
    if (!Number.isFinite(vectors[i])) {
      fail(`entry ${Math.floor(i / header.dims)} holds a non-finite value (${vectors[i]})`);
    }
  }
  return new Gallery(header, header.people, personOfEntry, vectors);
}

/**
 * Reads a gallery file made for the caller's embedder.
 *
 * @param path the gallery file
 * @param expected the caller's model id and dims; any other gallery is refused
 * @returns the gallery
 * @throws {GalleryFileError} when the file is missing, too large or corrupt
 * @throws {GalleryMismatchError} when it was made for another model or size
 * @example
 * ```ts
 * const g = await readGallery("people.gallery", { modelId: "face-api/face_recognition@1.7.15", dims: 128 });
 * ```
 */
export async function readGallery(path: string, expected: GalleryModel): Promise<Gallery> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new GalleryFileError(path, "it is not a regular file");
    if (info.size > GALLERY_FILE_BYTES_MAX) {
      throw new GalleryFileError(
        path,
        `${info.size} bytes exceeds GALLERY_FILE_BYTES_MAX (${GALLERY_FILE_BYTES_MAX})`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof GalleryFileError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new GalleryFileError(path, "the file does not exist");
    }
    throw new GalleryFileError(path, `it cannot be read (${(error as Error).message})`);
  }
  return decodeGallery(bytes, { path, expected });
}

let writeSequence = 0;

/**
 * Writes a gallery atomically: a temporary file beside the target, flushed, then renamed over
 * it, so a reader (or a crash) never sees a half-written gallery.
 *
 * @param path the gallery file to create or replace
 * @param gallery the gallery
 * @throws {Deno.errors.NotFound} when the folder does not exist (and other I/O errors)
 */
export async function writeGallery(path: string, gallery: Gallery): Promise<void> {
  const bytes = encodeGallery(gallery);
  const tmp = `${path}.tmp-${Deno.pid}-${writeSequence++}`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
