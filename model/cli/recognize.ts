/**
 * `deno task recognize [--gallery G] [--json] IMAGE...`: one line `<stem>:<label>` per image,
 * or with `--json` one object per image: `{file, faces:[{box, score, label, distance}]}`.
 * An image that cannot be read is reported on stderr (and in JSON as `{file, error}`) and the
 * batch goes on; the exit code is 1 when any image failed.
 * @module
 */
import { Recognizer } from "../recognizer.ts";
import {
  expandImageArgs,
  GALLERY_PATH_DEFAULT,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runImageBatch,
  runModelCommand,
  stemOf,
  UsageError,
} from "./_common.ts";

const USAGE = `Usage: deno task recognize [--gallery G] [--json] [options] IMAGE|DIR...

Names the largest face of each image: one line <stem>:<label> per image (NoFace, Unknown or a
person of the gallery). An image that cannot be read is reported on stderr and the others go on;
the exit code is 1 when any failed, 2 for a wrong command line.

  --gallery G            gallery file (default ${GALLERY_PATH_DEFAULT}; without one, faces are Unknown)
  --json                 one JSON object per image with every face: {file, faces:[{box, score,
                         label, distance}]}, or {file, error:{code, message}}
${RECOGNIZER_USAGE}
  -h, --help             this help`;

const SPEC = {
  name: "recognize",
  usage: USAGE,
  options: { gallery: { type: "string" }, json: { type: "boolean" }, ...RECOGNIZER_FLAGS },
  positionals: true,
} as const;

if (import.meta.main) {
  await runModelCommand(SPEC, async ({ values, positionals }) => {
    if (positionals.length === 0) throw new UsageError("no IMAGE given; see --help");
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
    try {
      return await runImageBatch({
        name: "recognize",
        files,
        async answer(bytes, file) {
          const result = await recognizer.recognize(bytes);
          return values.json
            ? JSON.stringify({
              file,
              width: result.width,
              height: result.height,
              faces: result.faces,
            })
            : `${stemOf(file)}:${result.label}`;
        },
        failureLine: (file, error) => values.json ? JSON.stringify({ file, error }) : undefined,
      });
    } finally {
      await recognizer.close();
    }
  });
}
