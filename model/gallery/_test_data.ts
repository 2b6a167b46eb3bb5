/**
 * Where tests find the course dataset: `../shared/datasets/cse546/` seen from the project root,
 * as its README asks (never copied into the repo). `FR_DATASET_DIR` overrides it, as for every
 * other test (`tests/_course_data.ts`, which `model/` may not import).
 * @module
 */

/** The course dataset folder (no trailing slash). */
export const CSE546_DIR: string = Deno.env.get("FR_DATASET_DIR")?.replace(/\/$/, "") ??
  new URL("../../../shared/datasets/cse546", import.meta.url).pathname;

/**
 * The path of a dataset file, or `undefined` (after saying so) when it is absent, for
 * `Deno.test({ ignore: !path })`: a missing dataset shows as an ignored test, not a pass.
 */
export function datasetFile(name: string): string | undefined {
  const path = `${CSE546_DIR}/${name}`;
  try {
    Deno.statSync(path);
    return path;
  } catch {
    console.warn(
      `ignoring tests that need ${path}: it is absent (set FR_DATASET_DIR to its folder)`,
    );
    return undefined;
  }
}
