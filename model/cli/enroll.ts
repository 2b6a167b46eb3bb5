/**
 * `deno task enroll --gallery G (DIR | --csv FILE --images DIR)`: embeds every enrollment image
 * and writes the gallery. DIR holds one folder per person; the CSV form is `Image,Results` as in
 * the course dataset. `--import-pt FILE` imports the course's PyTorch `data.pt` instead (512-d
 * facenet embeddings: usable only with a facenet embedder, said loudly).
 * Each image that cannot be enrolled is listed on stderr; the gallery keeps the rest, and the exit
 * code is 1 when any failed. `--json` prints the summary as one JSON object on stdout.
 * @module
 */
import { type BatchConsole, batchConsole, EXIT_FAILED } from "../../internal/cli.ts";
import { enrollFromCsv, enrollFromFolders, type EnrollResult } from "../gallery/enroll.ts";
import { LabelsCsvError, TorchFileError } from "../gallery/errors.ts";
import {
  addToGallery,
  createGallery,
  type Gallery,
  readGallery,
  writeGallery,
} from "../gallery/gallery.ts";
import { importTorchGallery } from "../gallery/import_torch.ts";
import { EMBEDDER_MODEL, Recognizer } from "../recognizer.ts";
import {
  GALLERY_PATH_DEFAULT,
  inputFileError,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runModelCommand,
  UsageError,
} from "./_common.ts";

const USAGE =
  `Usage: deno task enroll [--gallery G] [--append] [--json] (DIR | --csv FILE --images DIR)
       deno task enroll [--gallery G] --import-pt data.pt

Embeds every enrollment image and writes the gallery. DIR holds one folder per person (the
folder's name is the person's); the CSV form is Image,Results as in the course dataset. Each image
that cannot be enrolled is listed on stderr and the others go on; the exit code is then 1 (2 for a
wrong command line). The summary goes to stderr, or to stdout as JSON with --json.

  --gallery G            gallery file to write (default ${GALLERY_PATH_DEFAULT})
  --append               add to the existing gallery instead of replacing it
  --csv FILE             the labels CSV (Image,Results), with --images DIR holding its images
  --import-pt FILE       import the course's PyTorch data.pt (512-d facenet embeddings)
  --json                 the summary as one JSON object on stdout: {gallery, enrolled, people,
                         duplicates, failed, failures:[{file, kind, message}], entries, names};
                         with --import-pt {gallery, imported, dims, model, names, refused}
${RECOGNIZER_USAGE}
  -h, --help             this help`;

const SPEC = {
  name: "enroll",
  usage: USAGE,
  options: {
    gallery: { type: "string" },
    csv: { type: "string" },
    images: { type: "string" },
    "import-pt": { type: "string" },
    append: { type: "boolean" },
    json: { type: "boolean" },
    ...RECOGNIZER_FLAGS,
  },
  positionals: true,
} as const;

async function main(
  { values, positionals }: {
    values: Record<string, string | boolean | undefined>;
    positionals: string[];
  },
): Promise<number> {
  const galleryPath = (values.gallery as string | undefined) ?? GALLERY_PATH_DEFAULT;
  const csv = values.csv as string | undefined;
  const images = values.images as string | undefined;
  const importPath = values["import-pt"] as string | undefined;
  const forms = [positionals.length > 0, csv !== undefined, importPath !== undefined]
    .filter(Boolean).length;
  if (forms !== 1 || positionals.length > 1) {
    throw new UsageError("give exactly one of DIR, --csv FILE --images DIR, --import-pt FILE");
  }
  if ((csv === undefined) !== (images === undefined)) {
    throw new UsageError("--csv and --images go together");
  }
  // A missing input is one clear line, not the OS error of the first read.
  const inputs: [string, string | undefined, "file" | "directory"][] = [
    ["--csv", csv, "file"],
    ["--images", images, "directory"],
    ["--import-pt", importPath, "file"],
    ["DIR", positionals[0], "directory"],
  ];
  for (const [flag, path, kind] of inputs) {
    if (path === undefined) continue;
    const problem = await inputProblem(path, kind);
    if (problem !== undefined) {
      console.error(`enroll: ${flag} ${path}: ${problem}`);
      return EXIT_FAILED;
    }
  }
  await ensureParentDir(galleryPath);
  if (importPath !== undefined) {
    return await importPt(importPath, galleryPath, values.json === true);
  }

  const recognizer = await Recognizer.load(recognizerOptions(values));
  const embed = async (bytes: Uint8Array) => {
    const analysis = await recognizer.analyze(bytes);
    return analysis.faces[0]?.embedding ?? null;
  };
  let io: BatchConsole | undefined;
  const onProgress = (done: number, total: number) => {
    io ??= batchConsole("enroll", total);
    io.tick(done);
  };
  let result: EnrollResult;
  try {
    result = csv !== undefined
      ? await enrollFromCsv(csv, images!, embed, onProgress)
      : await enrollFromFolders(positionals[0], embed, onProgress);
  } catch (error) {
    if (error instanceof LabelsCsvError) {
      console.error(`enroll: --csv ${csv}: ${error.message}`);
      return EXIT_FAILED;
    }
    throw error;
  } finally {
    io?.end();
    await recognizer.close();
  }
  for (const f of result.failures) console.error(`enroll: ${f.file}: ${f.kind}: ${f.message}`);
  if (result.enrolled.length === 0) {
    console.error(`enroll: no image could be enrolled; ${galleryPath} left unchanged`);
    if (values.json) console.log(JSON.stringify(summary(galleryPath, result, undefined)));
    return EXIT_FAILED;
  }
  const base: Gallery = values.append && await exists(galleryPath)
    ? await readGallery(galleryPath, EMBEDDER_MODEL)
    : createGallery({ ...EMBEDDER_MODEL, source: `deno task enroll ${Deno.args.join(" ")}` });
  const gallery = addToGallery(base, result.enrolled);
  await writeGallery(galleryPath, gallery);
  const line = summary(galleryPath, result, gallery);
  if (values.json) console.log(JSON.stringify(line));
  else {
    console.error(
      `enroll: ${line.enrolled} images of ${line.people} people enrolled` +
        (line.duplicates ? `, ${line.duplicates} duplicate images skipped` : "") +
        (line.failed ? `, ${line.failed} failed` : "") +
        `; ${galleryPath} holds ${gallery.entryCount} embeddings of ${gallery.names.length} people`,
    );
  }
  return result.failures.length > 0 ? EXIT_FAILED : 0;
}

/** `enroll --json`'s summary. */
function summary(galleryPath: string, result: EnrollResult, gallery: Gallery | undefined) {
  return {
    gallery: galleryPath,
    enrolled: result.enrolled.length,
    people: new Set(result.enrolled.map((e) => e.name)).size,
    duplicates: result.duplicates.length,
    failed: result.failures.length,
    failures: result.failures,
    // What the gallery file holds after this run (null when it was left unchanged).
    entries: gallery?.entryCount ?? null,
    names: gallery?.names.length ?? null,
  };
}

/** Why `path` is not a readable file or directory, or undefined when it is one. */
async function inputProblem(path: string, kind: "file" | "directory"): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return inputFileError(error).message;
  }
  if (kind === "directory" && !info.isDirectory) return "is not a directory";
  if (kind === "file" && info.isDirectory) return "is a directory, not a file";
  return undefined;
}

async function importPt(path: string, galleryPath: string, json: boolean): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    console.error(`enroll: --import-pt ${path}: ${inputFileError(error).message}`);
    return EXIT_FAILED;
  }
  let imported;
  try {
    imported = importTorchGallery(bytes, { source: path });
  } catch (error) {
    if (error instanceof TorchFileError) {
      console.error(`enroll: ${path}: ${error.message}`);
      return 1;
    }
    throw error;
  }
  for (const r of imported.refused) {
    console.error(`enroll: ${path}: entry ${r.index} "${r.name}" refused: ${r.problem}`);
  }
  await writeGallery(galleryPath, imported.gallery);
  console.error(`enroll: WARNING: ${imported.warning}`);
  const { gallery } = imported;
  if (json) {
    console.log(JSON.stringify({
      gallery: galleryPath,
      imported: gallery.entryCount,
      dims: gallery.dims,
      model: gallery.modelId,
      names: gallery.names.length,
      refused: imported.refused,
    }));
  } else {
    console.error(
      `enroll: imported ${gallery.entryCount} ${gallery.dims}-d embeddings of ` +
        `${gallery.names.length} people into ${galleryPath}`,
    );
  }
  // A refused entry is an input that failed, as an image that cannot be enrolled is.
  return imported.refused.length > 0 ? EXIT_FAILED : 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureParentDir(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
}

if (import.meta.main) await runModelCommand(SPEC, main);
