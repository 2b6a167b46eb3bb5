/**
 * The gallery package's typed errors: operating errors a caller reports to a user, each message
 * saying what was wrong and what to do next.
 * @module
 */

/** A gallery file that cannot be used: wrong magic, truncated, bad header, checksum mismatch. */
export class GalleryFileError extends Error {
  /** The file (or a description of the bytes) that was being read. */
  readonly path: string;

  /**
   * @param path the gallery file
   * @param problem what is wrong with it
   */
  constructor(path: string, problem: string) {
    super(
      `gallery ${path} is not a usable gallery file: ${problem}; ` +
        `re-create it with \`deno task enroll --gallery ${path} ...\``,
    );
    this.name = "GalleryFileError";
    this.path = path;
  }
}

/** What a gallery is bound to: the embedder that made its embeddings and their length. */
export interface GalleryModel {
  /** E.g. `face-api/face_recognition@1.7.15` or `facenet-vggface2`. */
  readonly modelId: string;
  /** Embedding length, e.g. 128 (face-api) or 512 (facenet). */
  readonly dims: number;
}

/**
 * A gallery made by another embedder than the one asking: distances between embeddings of two
 * different models mean nothing, so using it would give confident nonsense.
 */
export class GalleryMismatchError extends Error {
  /** The gallery file. */
  readonly path: string;
  /** What the gallery was made with. */
  readonly found: GalleryModel;
  /** What the caller's embedder produces. */
  readonly expected: GalleryModel;

  /**
   * @param path the gallery file
   * @param found the model recorded in the gallery
   * @param expected the caller's model
   */
  constructor(path: string, found: GalleryModel, expected: GalleryModel) {
    super(
      `gallery ${path} was made for model "${found.modelId}" (${found.dims}-d embeddings), ` +
        `but the current embedder is "${expected.modelId}" (${expected.dims}-d); embeddings of ` +
        `different models cannot be compared. Enroll a gallery with the current model ` +
        `(\`deno task enroll --gallery G DIR\`) or use a gallery made for "${expected.modelId}"`,
    );
    this.name = "GalleryMismatchError";
    this.path = path;
    this.found = found;
    this.expected = expected;
  }
}

/** A PyTorch file we refuse to read: unsafe pickle content, unsupported layout, or corruption. */
export class TorchFileError extends Error {
  /** The problem alone, without the common prefix. */
  readonly problem: string;

  /**
   * @param problem what is wrong, naming the offending part (opcode, global, entry)
   */
  constructor(problem: string) {
    super(`PyTorch file refused: ${problem}`);
    this.name = "TorchFileError";
    this.problem = problem;
  }
}

/** A labels CSV that cannot be read as `Image,Results`. */
export class LabelsCsvError extends Error {
  /** 1-based line where the problem was found. */
  readonly line: number;

  /**
   * @param line 1-based line number
   * @param problem what is wrong
   */
  constructor(line: number, problem: string) {
    super(`labels CSV line ${line}: ${problem}`);
    this.name = "LabelsCsvError";
    this.line = line;
  }
}
