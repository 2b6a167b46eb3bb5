/**
 * `deno task enroll --gallery G (DIR | --csv FILE --images DIR)`: embeds every enrollment image
 * and writes the gallery. DIR holds one folder per person; the CSV form is `Image,Results` as in
 * the course dataset. `--import-pt FILE` imports the course's PyTorch `data.pt` instead (512-d
 * facenet embeddings: usable only with a facenet embedder, said loudly).
 * Each image that cannot be enrolled is listed; the gallery keeps the rest.
 * @module
 */
import { parseArgs } from "node:util";
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
  progressReporter,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runCommand,
  UsageError,
} from "./_common.ts";

const USAGE =
  `usage: deno task enroll [--gallery G] [--append] [--strict] (DIR | --csv FILE --images DIR)
       deno task enroll [--gallery G] --import-pt data.pt
  --gallery G            gallery file to write (default ${GALLERY_PATH_DEFAULT})
  --append               add to the existing gallery instead of replacing it
  --strict               exit 1 when any image could not be enrolled
${RECOGNIZER_USAGE}`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      gallery: { type: "string" },
      csv: { type: "string" },
      images: { type: "string" },
      "import-pt": { type: "string" },
      append: { type: "boolean" },
      strict: { type: "boolean" },
      ...RECOGNIZER_FLAGS,
    },
    allowPositionals: true,
    strict: true,
  });
  const galleryPath = values.gallery ?? GALLERY_PATH_DEFAULT;
  const forms =
    [positionals.length > 0, values.csv !== undefined, values["import-pt"] !== undefined]
      .filter(Boolean).length;
  if (forms !== 1 || positionals.length > 1) {
    throw new UsageError("enroll: give exactly one of DIR, --csv FILE --images DIR, --import-pt");
  }
  if ((values.csv === undefined) !== (values.images === undefined)) {
    throw new UsageError("enroll: --csv and --images go together");
  }
  await ensureParentDir(galleryPath);
  if (values["import-pt"] !== undefined) return await importPt(values["import-pt"], galleryPath);

  const recognizer = await Recognizer.load(recognizerOptions(values));
  const embed = async (bytes: Uint8Array) => {
    const analysis = await recognizer.analyze(bytes);
    return analysis.faces[0]?.embedding ?? null;
  };
  let progress: ReturnType<typeof progressReporter> | undefined;
  const onProgress = (done: number, total: number) => {
    progress ??= progressReporter("enroll", total, 1);
    progress.tick(done);
  };
  let result: EnrollResult;
  try {
    result = values.csv !== undefined
      ? await enrollFromCsv(values.csv, values.images!, embed, onProgress)
      : await enrollFromFolders(positionals[0], embed, onProgress);
  } catch (error) {
    if (error instanceof LabelsCsvError) throw new UsageError(`enroll: ${error.message}`);
    throw error;
  } finally {
    await recognizer.close();
  }
  for (const f of result.failures) console.error(`enroll: ${f.file}: ${f.kind}: ${f.message}`);
  if (result.enrolled.length === 0) {
    console.error(`enroll: no image could be enrolled; ${galleryPath} left unchanged`);
    return 1;
  }
  const base: Gallery = values.append && await exists(galleryPath)
    ? await readGallery(galleryPath, EMBEDDER_MODEL)
    : createGallery({ ...EMBEDDER_MODEL, source: `deno task enroll ${Deno.args.join(" ")}` });
  const gallery = addToGallery(base, result.enrolled);
  await writeGallery(galleryPath, gallery);
  const people = new Set(result.enrolled.map((e) => e.name)).size;
  console.error(
    `enroll: ${result.enrolled.length} images of ${people} people enrolled` +
      (result.duplicates.length ? `, ${result.duplicates.length} duplicate images skipped` : "") +
      (result.failures.length ? `, ${result.failures.length} failed` : "") +
      `; ${galleryPath} holds ${gallery.entryCount} embeddings of ${gallery.names.length} people`,
  );
  return values.strict && result.failures.length > 0 ? 1 : 0;
}

async function importPt(path: string, galleryPath: string): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    throw new UsageError(`enroll: cannot read ${path}`);
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
  console.error(
    `enroll: imported ${imported.gallery.entryCount} ${imported.gallery.dims}-d embeddings of ` +
      `${imported.gallery.names.length} people into ${galleryPath}`,
  );
  return 0;
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

if (import.meta.main) await runCommand(USAGE, main);
