/**
 * `deno task recognize [--gallery G] [--json] IMAGE...`: one line `<stem>:<label>` per image,
 * or with `--json` one object per image: `{file, faces:[{box, score, label, distance}]}`.
 * An image that cannot be read is reported on stderr (and in JSON as `{file, error}`); the
 * exit code is 1 when any image failed.
 * @module
 */
import { parseArgs } from "node:util";
import { ImageError } from "../image/errors.ts";
import { Recognizer } from "../recognizer.ts";
import {
  expandImageArgs,
  GALLERY_PATH_DEFAULT,
  progressReporter,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runCommand,
  stemOf,
  UsageError,
} from "./_common.ts";

const USAGE = `usage: deno task recognize [--gallery G] [--json] [options] IMAGE|DIR...
  --gallery G            gallery file (default ${GALLERY_PATH_DEFAULT}; without one, faces are Unknown)
  --json                 one JSON object per image with every face
${RECOGNIZER_USAGE}`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { gallery: { type: "string" }, json: { type: "boolean" }, ...RECOGNIZER_FLAGS },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError("recognize: no IMAGE given");
  const options = recognizerOptions(values);
  const files = await expandImageArgs(positionals);
  let galleryPath = values.gallery;
  if (galleryPath === undefined) {
    try {
      await Deno.stat(GALLERY_PATH_DEFAULT);
      galleryPath = GALLERY_PATH_DEFAULT;
    } catch {
      console.error(
        `recognize: no gallery at ${GALLERY_PATH_DEFAULT} (enroll with "deno task enroll"); ` +
          `every face will be Unknown`,
      );
    }
  }
  const recognizer = await Recognizer.load({ ...options, galleryPath });
  const progress = progressReporter("recognize", files.length);
  const encoder = new TextEncoder();
  let failed = 0;
  for (const [i, file] of files.entries()) {
    let line: string;
    try {
      const result = await recognizer.recognize(await Deno.readFile(file));
      line = values.json
        ? JSON.stringify({ file, width: result.width, height: result.height, faces: result.faces })
        : `${stemOf(file)}:${result.label}`;
    } catch (error) {
      if (!(error instanceof ImageError) && !(error instanceof Deno.errors.NotFound)) throw error;
      failed++;
      const code = error instanceof ImageError ? `image_${error.code}` : "not_found";
      console.error(`recognize: ${file}: ${error.message}`);
      if (!values.json) {
        progress.tick(i + 1);
        continue;
      }
      line = JSON.stringify({ file, error: { code, message: error.message } });
    }
    await Deno.stdout.write(encoder.encode(line + "\n"));
    progress.tick(i + 1);
  }
  await recognizer.close();
  if (failed > 0) console.error(`recognize: ${failed} of ${files.length} images failed`);
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) await runCommand(USAGE, main);
