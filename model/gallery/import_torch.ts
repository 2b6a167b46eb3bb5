/**
 * Imports the course's `data.pt` (a `torch.save` of `[embeddings, names]`: a list of 512-d
 * facenet embeddings and a list of first names) into a gallery.
 *
 * Its names only mean something with the embedder that made it: facenet-pytorch's
 * InceptionResnetV1 pretrained on VGGFace2 (512-d), behind facenet-pytorch's MTCNN crop. Our
 * embedder is face-api's 128-d face_recognition net, so the imported gallery records model
 * `facenet-vggface2` and 512 dims, and {@linkcode readGallery} refuses it for the 128-d
 * embedder. Useful for inspecting the course's gallery and for a facenet embedder; to answer the
 * course's images with our model, enroll from its labels CSV instead.
 *
 * Command line: `deno run -R -W model/gallery/import_torch.ts DATA.pt OUT.gallery`.
 * @module
 */
import { createGallery, type Gallery, type GalleryEntry, personNameProblem } from "./gallery.ts";
import { writeGallery } from "./gallery.ts";
import { TorchFileError } from "./errors.ts";
import {
  type PickleValue,
  readTorchArchive,
  TORCH_FILE_BYTES_MAX,
  TorchTensor,
} from "./torch_pickle.ts";

/** The model id recorded for the course's facenet embeddings. */
export const FACENET_MODEL_ID = "facenet-vggface2";

/** Said wherever a data.pt gallery is produced. */
export const FACENET_WARNING =
  "data.pt's names only mean something with the facenet embedder (facenet-pytorch " +
  "InceptionResnetV1 pretrained on VGGFace2, 512-d, MTCNN-cropped faces). This project's " +
  "embedder is face-api's 128-d face_recognition net, so the gallery records model " +
  `"${FACENET_MODEL_ID}" with 512 dims and is refused by the 128-d embedder. To answer the ` +
  "course's images with our model, enroll from its labels CSV: " +
  "deno task enroll --gallery G --csv labels_100.csv --images face_images_100";

/** Options for {@linkcode importTorchGallery}. */
export interface ImportTorchOptions {
  /**
   * The model id recorded in the gallery.
   * @default {"facenet-vggface2"}
   */
  readonly modelId?: string;
  /**
   * Provenance recorded in the gallery.
   * @default {"data.pt (torch.save [embeddings, names])"}
   */
  readonly source?: string;
}

/** An entry of the file that could not be imported. */
export interface ImportRefusal {
  readonly index: number;
  readonly name: string;
  readonly problem: string;
}

/** What {@linkcode importTorchGallery} returns. */
export interface ImportTorchResult {
  readonly gallery: Gallery;
  /** Entries whose names are not acceptable person names (the rest are imported). */
  readonly refused: readonly ImportRefusal[];
  /** {@linkcode FACENET_WARNING}, for the caller to show. */
  readonly warning: string;
}

/**
 * Builds a gallery from a `torch.save([embeddings, names])` file such as the course's data.pt.
 * `embeddings` may be a list of `[D]` or `[1, D]` tensors or one `[N, D]` tensor. See the module
 * docs: the result is bound to the facenet model, not to ours.
 *
 * @param bytes the .pt file's bytes
 * @param options model id and source recorded
 * @returns the gallery, refused entries and the facenet warning
 * @throws {TorchFileError} when the file is unsafe, corrupt, or not `[embeddings, names]`
 * @example
 * ```ts
 * const { gallery, warning } = importTorchGallery(await Deno.readFile("data.pt"));
 * console.error(warning);
 * ```
 */
export function importTorchGallery(
  bytes: Uint8Array,
  options: ImportTorchOptions = {},
): ImportTorchResult {
  const { value } = readTorchArchive(bytes);
  const { embeddings, names } = splitEmbeddingsAndNames(value);
  const dims = embeddings[0]?.length ?? 0;
  const refused: ImportRefusal[] = [];
  const entries: GalleryEntry[] = [];
  embeddings.forEach((embedding, index) => {
    if (embedding.length !== dims) {
      throw new TorchFileError(
        `embedding ${index} has ${embedding.length} values, the first ${dims}`,
      );
    }
    const name = names[index];
    const problem = personNameProblem(name);
    if (problem) refused.push({ index, name, problem });
    else entries.push({ name, embedding });
  });
  if (dims === 0) throw new TorchFileError("the file holds no embeddings");
  const gallery = createGallery({
    modelId: options.modelId ?? FACENET_MODEL_ID,
    dims,
    source: options.source ?? "data.pt (torch.save [embeddings, names])",
  }, entries);
  return { gallery, refused, warning: FACENET_WARNING };
}

const EXPECTED = "expected [embeddings, names]: a list of float tensors and a list of names " +
  "of the same length";

function splitEmbeddingsAndNames(
  value: PickleValue,
): { embeddings: Float32Array[]; names: string[] } {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new TorchFileError(`${EXPECTED}; the file holds ${describe(value)}`);
  }
  const [first, second] = value;
  const namesFirst = Array.isArray(first) && first.length > 0 && typeof first[0] === "string";
  const [rawEmbeddings, rawNames] = namesFirst ? [second, first] : [first, second];
  const embeddings = toEmbeddings(rawEmbeddings);
  if (!Array.isArray(rawNames) || !rawNames.every((n) => typeof n === "string")) {
    throw new TorchFileError(`${EXPECTED}; the names are ${describe(rawNames)}`);
  }
  if (rawNames.length !== embeddings.length) {
    throw new TorchFileError(
      `${embeddings.length} embeddings but ${rawNames.length} names; ${EXPECTED}`,
    );
  }
  return { embeddings, names: rawNames as string[] };
}

function toEmbeddings(value: PickleValue): Float32Array[] {
  if (value instanceof TorchTensor && value.shape.length === 2) {
    const [rows, dims] = value.shape;
    return Array.from({ length: rows }, (_, i) => value.data.subarray(i * dims, (i + 1) * dims));
  }
  if (!Array.isArray(value)) {
    throw new TorchFileError(`${EXPECTED}; the embeddings are ${describe(value)}`);
  }
  return value.map((tensor, index) => {
    const rowShaped = tensor instanceof TorchTensor &&
      (tensor.shape.length === 1 || (tensor.shape.length === 2 && tensor.shape[0] === 1));
    if (!rowShaped) {
      throw new TorchFileError(
        `embedding ${index} is ${describe(tensor)}, expected a [D] or [1, D] float tensor`,
      );
    }
    return (tensor as TorchTensor).data;
  });
}

function describe(value: PickleValue): string {
  if (value instanceof TorchTensor) return `a tensor of shape [${value.shape.join(", ")}]`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Map) return `a dict of ${value.size}`;
  return `a ${value === null ? "None" : typeof value}`;
}

async function main(args: string[]): Promise<number> {
  if (args.length !== 2) {
    console.error("usage: deno run -R -W model/gallery/import_torch.ts DATA.pt OUT.gallery");
    return 2;
  }
  const [input, output] = args;
  try {
    const info = await Deno.stat(input);
    if (info.size > TORCH_FILE_BYTES_MAX) {
      throw new TorchFileError(`${input} has ${info.size} bytes, more than TORCH_FILE_BYTES_MAX`);
    }
    const { gallery, refused, warning } = importTorchGallery(await Deno.readFile(input), {
      source: `${input} (torch.save [embeddings, names])`,
    });
    for (const r of refused) {
      console.error(`refused entry ${r.index} ${JSON.stringify(r.name)}: ${r.problem}`);
    }
    await writeGallery(output, gallery);
    console.log(
      `imported ${gallery.entryCount} embeddings of ${gallery.personCount} people ` +
        `(${gallery.dims}-d, model ${gallery.modelId}) from ${input} into ${output}` +
        (refused.length ? `; ${refused.length} refused` : ""),
    );
    console.log(`note: ${warning}`);
    return refused.length ? 1 : 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
