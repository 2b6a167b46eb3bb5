/**
 * Enrollment: turning labelled images into gallery entries, independent of the model. The
 * embedder is passed in, so the same logic serves face-api's 128-d net, any other embedder, and
 * tests.
 *
 * Every image considered ends up in exactly one of `enrolled`, `duplicates` or `failures`;
 * nothing is skipped silently. Several images of one person are all kept (not averaged), see
 * {@linkcode createGallery}.
 * @module
 */
import { basename, join } from "node:path";
import { GALLERY_ENTRIES_MAX, type GalleryEntry, personNameProblem } from "./gallery.ts";
import { LABELS_CSV_BYTES_MAX, parseLabelsCsv } from "./labels_csv.ts";
import { LabelsCsvError } from "./errors.ts";

/**
 * Embeds the largest face of an image: its embedding, `null` when no face was found; throws
 * (typically an image decoding error) when the bytes are not a usable image.
 */
export type EmbedFn = (
  bytes: Uint8Array,
  fileName: string,
) => Promise<ArrayLike<number> | null>;

/** Called after each image: how many are done, of how many, and which file it was. */
export type ProgressFn = (done: number, total: number, file: string) => void;

/** File extensions taken as images (compared case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".jpg",
  ".jpeg",
  ".png",
  ".bmp",
  ".gif",
  ".webp",
  ".tif",
  ".tiff",
  ".heic",
  ".heif",
  ".avif",
];
/** Default for {@linkcode EnrollOptions.imageBytesMax}. */
export const ENROLL_IMAGE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/** Most images one enrollment considers (a gallery holds at most GALLERY_ENTRIES_MAX). */
export const ENROLL_FILES_MAX = GALLERY_ENTRIES_MAX;

/** Why an image or folder was not enrolled. */
export type EnrollFailureKind =
  /** The embedder found no face. */
  | "no_face"
  /** The embedder threw (e.g. the bytes are not a decodable image). */
  | "image_error"
  /** The file could not be read. */
  | "read_error"
  /** The file is larger than `imageBytesMax`. */
  | "too_large"
  /** A person folder's name is not an acceptable person name. */
  | "bad_name"
  /** A file without an image extension. */
  | "not_image"
  /** A symbolic link or special file (never followed, so enrollment stays inside DIR). */
  | "not_followed"
  /** Something where only person folders (DIR) or images (person folder) belong. */
  | "misplaced"
  /** A CSV row whose image is not in the images folder. */
  | "missing_image"
  /** A CSV row whose stem matches several image files. */
  | "ambiguous_image"
  /** A CSV row that cannot be used (field count, unsafe name, conflicting label). */
  | "csv_row"
  /** The same image bytes were already enrolled under another name. */
  | "conflict";

/** One image or folder that was not enrolled. */
export interface EnrollFailure {
  /** Path relative to DIR, an image file name, or `labels.csv:LINE` for a CSV row. */
  readonly file: string;
  readonly kind: EnrollFailureKind;
  readonly message: string;
}

/** One enrolled image. */
export interface EnrolledImage extends GalleryEntry {
  readonly name: string;
  readonly embedding: Float32Array;
  /** Path relative to DIR, or the image file name in the CSV form. */
  readonly file: string;
}

/** An image not embedded again because identical bytes were already enrolled for the person. */
export interface EnrollDuplicate {
  readonly file: string;
  readonly sameAs: string;
}

/** What an enrollment did. */
export interface EnrollResult {
  readonly enrolled: readonly EnrolledImage[];
  readonly duplicates: readonly EnrollDuplicate[];
  readonly failures: readonly EnrollFailure[];
}

/** Options for {@linkcode enrollFromFolders} and {@linkcode enrollFromCsv}. */
export interface EnrollOptions {
  /**
   * Images larger than this are refused (`too_large`) without being read.
   * @default {16 MiB}
   */
  readonly imageBytesMax?: number;
  /**
   * Identical image bytes under the same name are embedded once (the course's CSV lists each
   * of its 10 images 10 times); under different names they are a `conflict`.
   * @default {true}
   */
  readonly dedupe?: boolean;
  /**
   * Expected embedding length; by default the first embedding's length. Any embedding of
   * another length aborts enrollment (the embedder is inconsistent, not the image).
   * @default {undefined}
   */
  readonly dims?: number;
}

interface Candidate {
  readonly name: string;
  readonly path: string;
  readonly file: string;
}

function hasImageExtension(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext) && lower.length > ext.length);
}

function checkOptions(options: EnrollOptions): Required<Omit<EnrollOptions, "dims">> & {
  dims?: number;
} {
  const imageBytesMax = options.imageBytesMax ?? ENROLL_IMAGE_BYTES_MAX_DEFAULT;
  if (!Number.isInteger(imageBytesMax) || imageBytesMax < 1) {
    throw new RangeError(`imageBytesMax ${imageBytesMax} must be a positive integer`);
  }
  if (options.dims !== undefined && (!Number.isInteger(options.dims) || options.dims < 1)) {
    throw new RangeError(`dims ${options.dims} must be a positive integer`);
  }
  return { imageBytesMax, dedupe: options.dedupe ?? true, dims: options.dims };
}

/**
 * Enrolls every image in DIR, where DIR holds one folder per person named after them
 * (`DIR/Paul/1.jpg`). Folders with unacceptable names, symlinks, nested folders, non-images and
 * files directly in DIR are reported as failures; so is every image that cannot be read, has no
 * face, or fails to decode. Files are processed in name order, so results are reproducible.
 *
 * @param dir the folder of person folders
 * @param embed the embedder
 * @param onProgress called after each image
 * @param options limits, dedupe, expected dims
 * @returns enrolled images, duplicates and failures
 * @throws {Deno.errors.NotFound} when DIR does not exist
 * @throws {RangeError} for more than ENROLL_FILES_MAX images, or an embedding of the wrong length
 * @example
 * ```ts
 * const result = await enrollFromFolders("people", embed, (done, total) => console.error(`${done}/${total}`));
 * const gallery = createGallery({ modelId, dims: 128 }, result.enrolled);
 * ```
 */
export async function enrollFromFolders(
  dir: string,
  embed: EmbedFn,
  onProgress?: ProgressFn,
  options: EnrollOptions = {},
): Promise<EnrollResult> {
  const checked = checkOptions(options);
  const failures: EnrollFailure[] = [];
  const candidates: Candidate[] = [];
  for (const entry of await sortedEntries(dir)) {
    if (entry.isSymlink) {
      failures.push({
        file: entry.name,
        kind: "not_followed",
        message: "symbolic link not followed",
      });
    } else if (!entry.isDirectory) {
      failures.push({
        file: entry.name,
        kind: "misplaced",
        message: "files directly in DIR are not enrolled; put each person's images in a " +
          "folder named after the person",
      });
    } else {
      await collectPersonFolder(dir, entry.name, candidates, failures);
    }
    if (candidates.length > ENROLL_FILES_MAX) {
      throw new RangeError(`${dir} holds more than ENROLL_FILES_MAX (${ENROLL_FILES_MAX}) images`);
    }
  }
  return await enrollCandidates(candidates, embed, onProgress, checked, failures, []);
}

async function collectPersonFolder(
  dir: string,
  folder: string,
  candidates: Candidate[],
  failures: EnrollFailure[],
): Promise<void> {
  const name = folder.normalize("NFC");
  const problem = personNameProblem(name);
  if (problem) {
    failures.push({
      file: `${folder}/`,
      kind: "bad_name",
      message: `folder name ${JSON.stringify(folder)} ${problem}; none of its images were ` +
        `enrolled (rename the folder to the person's name)`,
    });
    return;
  }
  for (const entry of await sortedEntries(join(dir, folder))) {
    const file = `${folder}/${entry.name}`;
    if (entry.isSymlink) {
      failures.push({ file, kind: "not_followed", message: "symbolic link not followed" });
    } else if (entry.isDirectory) {
      failures.push({
        file: `${file}/`,
        kind: "misplaced",
        message: "nested folders are not searched; put the images directly in the person folder",
      });
    } else if (!entry.isFile) {
      failures.push({ file, kind: "not_followed", message: "not a regular file" });
    } else if (!hasImageExtension(entry.name)) {
      failures.push({
        file,
        kind: "not_image",
        message: `not enrolled: the extension is not one of ${IMAGE_EXTENSIONS.join(" ")}`,
      });
    } else {
      candidates.push({ name, path: join(dir, folder, entry.name), file });
    }
  }
}

async function sortedEntries(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) {
    entries.push(entry);
    if (entries.length > ENROLL_FILES_MAX) {
      throw new RangeError(`${dir} holds more than ENROLL_FILES_MAX (${ENROLL_FILES_MAX}) entries`);
    }
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Enrolls the images named in a labels CSV (`Image,Results`, as the course's
 * `labels_100.csv`): each row's Image is a stem (`test_00`) found in IMAGES with any image
 * extension, or a full file name. Rows that cannot be used, stems with no image or several
 * images, and images that fail are reported as failures.
 *
 * @param csvPath the labels CSV
 * @param imagesDir the folder holding the images
 * @param embed the embedder
 * @param onProgress called after each row's image
 * @param options limits, dedupe, expected dims
 * @returns enrolled images, duplicates and failures
 * @throws {LabelsCsvError} when the CSV is not `Image,Results` CSV, not UTF-8, or too large
 * @throws {Deno.errors.NotFound} when the CSV or IMAGES does not exist
 * @throws {RangeError} for an embedding of the wrong length
 * @example
 * ```ts
 * const result = await enrollFromCsv("labels_100.csv", "face_images_100", embed);
 * ```
 */
export async function enrollFromCsv(
  csvPath: string,
  imagesDir: string,
  embed: EmbedFn,
  onProgress?: ProgressFn,
  options: EnrollOptions = {},
): Promise<EnrollResult> {
  const checked = checkOptions(options);
  const csvName = basename(csvPath);
  const parsed = parseLabelsCsv(await readCsvText(csvPath));
  const failures: EnrollFailure[] = parsed.problems.map((p) => ({
    file: `${csvName}:${p.line}`,
    kind: "csv_row",
    message: p.message,
  }));
  const duplicates: EnrollDuplicate[] = parsed.duplicates.map((d) => ({
    file: `${csvName}:${d.line}`,
    sameAs: `${csvName}:${d.firstLine}`,
  }));
  const listing = await imageListing(imagesDir);
  const candidates: Candidate[] = [];
  for (const row of parsed.rows) {
    const found = listing.resolve(row.image);
    if (typeof found === "string") {
      candidates.push({ name: row.label, path: join(imagesDir, found), file: found });
    } else {
      failures.push({ file: `${csvName}:${row.line}`, ...found });
    }
  }
  return await enrollCandidates(candidates, embed, onProgress, checked, failures, duplicates);
}

async function readCsvText(csvPath: string): Promise<string> {
  const info = await Deno.stat(csvPath);
  if (info.size > LABELS_CSV_BYTES_MAX) {
    throw new LabelsCsvError(
      1,
      `${csvPath} has ${info.size} bytes, more than LABELS_CSV_BYTES_MAX (${LABELS_CSV_BYTES_MAX})`,
    );
  }
  const bytes = await Deno.readFile(csvPath);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new LabelsCsvError(1, `${csvPath} is not UTF-8 text; save it as UTF-8 CSV`);
  }
}

interface ImageListing {
  /** The file name for an image stem or name, or why there is none. */
  resolve(image: string): string | { kind: EnrollFailureKind; message: string };
}

async function imageListing(imagesDir: string): Promise<ImageListing> {
  const byStem = new Map<string, string[]>();
  const regular = new Set<string>();
  const links = new Set<string>();
  for (const entry of await sortedEntries(imagesDir)) {
    if (!hasImageExtension(entry.name)) continue;
    const stem = entry.name.slice(0, entry.name.lastIndexOf("."));
    if (entry.isSymlink || !entry.isFile) {
      links.add(stem).add(entry.name);
      continue;
    }
    regular.add(entry.name);
    byStem.set(stem, [...(byStem.get(stem) ?? []), entry.name]);
  }
  return {
    resolve(image) {
      if (regular.has(image) && hasImageExtension(image)) return image;
      const files = byStem.get(image) ?? [];
      if (files.length === 1) return files[0];
      if (files.length > 1) {
        return {
          kind: "ambiguous_image",
          message: `image ${JSON.stringify(image)} matches ${files.join(", ")} in ${imagesDir}; ` +
            `keep one or name the file with its extension in the CSV`,
        };
      }
      if (links.has(image)) {
        return {
          kind: "not_followed",
          message: `image ${JSON.stringify(image)} in ${imagesDir} is a symbolic link or ` +
            `special file, not followed`,
        };
      }
      return {
        kind: "missing_image",
        message: `no ${IMAGE_EXTENSIONS.join("/")} file named ${JSON.stringify(image)} in ` +
          imagesDir,
      };
    },
  };
}

async function enrollCandidates(
  candidates: readonly Candidate[],
  embed: EmbedFn,
  onProgress: ProgressFn | undefined,
  options: { imageBytesMax: number; dedupe: boolean; dims?: number },
  failures: EnrollFailure[],
  duplicates: EnrollDuplicate[],
): Promise<EnrollResult> {
  const enrolled: EnrolledImage[] = [];
  const seen = new Map<string, { name: string; file: string }>();
  let dims = options.dims;
  let done = 0;
  for (const { name, path, file } of candidates) {
    const bytes = await readImage(path, file, options.imageBytesMax, failures);
    if (bytes) {
      const digest = options.dedupe ? await sha256Hex(bytes) : "";
      const earlier = seen.get(digest);
      if (earlier && earlier.name === name) {
        duplicates.push({ file, sameAs: earlier.file });
      } else if (earlier) {
        failures.push({
          file,
          kind: "conflict",
          message: `the same image (identical bytes) is already enrolled as ` +
            `${JSON.stringify(earlier.name)} from ${earlier.file}; not enrolled as ` +
            JSON.stringify(name),
        });
      } else {
        const embedding = await embedOne(embed, bytes, file, failures);
        if (embedding) {
          dims ??= embedding.length;
          checkEmbedding(embedding, dims, file);
          enrolled.push({ name, embedding, file });
          if (options.dedupe) seen.set(digest, { name, file });
        }
      }
    }
    onProgress?.(++done, candidates.length, file);
  }
  return { enrolled, duplicates, failures };
}

async function readImage(
  path: string,
  file: string,
  imageBytesMax: number,
  failures: EnrollFailure[],
): Promise<Uint8Array | undefined> {
  try {
    const info = await Deno.stat(path);
    if (info.size > imageBytesMax) {
      failures.push({
        file,
        kind: "too_large",
        message: `${info.size} bytes is more than imageBytesMax (${imageBytesMax})`,
      });
      return undefined;
    }
    const bytes = await Deno.readFile(path);
    if (bytes.length > imageBytesMax) {
      failures.push({ file, kind: "too_large", message: `grew past imageBytesMax while read` });
      return undefined;
    }
    return bytes;
  } catch (error) {
    failures.push({ file, kind: "read_error", message: describe(error) });
    return undefined;
  }
}

async function embedOne(
  embed: EmbedFn,
  bytes: Uint8Array,
  file: string,
  failures: EnrollFailure[],
): Promise<Float32Array | undefined> {
  try {
    const result = await embed(bytes, basename(file));
    if (result === null) {
      failures.push({ file, kind: "no_face", message: "no face found in the image" });
      return undefined;
    }
    return Float32Array.from(result);
  } catch (error) {
    failures.push({ file, kind: "image_error", message: describe(error) });
    return undefined;
  }
}

function checkEmbedding(embedding: Float32Array, dims: number, file: string): void {
  if (embedding.length !== dims) {
    throw new RangeError(
      `the embedder returned ${embedding.length} values for ${file} but ${dims} before; ` +
        `one enrollment must use one embedder`,
    );
  }
  if (!embedding.every(Number.isFinite)) {
    throw new RangeError(`the embedder returned a non-finite value for ${file}`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
