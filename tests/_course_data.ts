/**
 * Test helper: the course's public face dataset, read from the workplace's shared folder (never
 * copied into the repo). Tests that need it are ignored, with a message, where it is absent.
 * @module
 */
import { unzipSync } from "fflate";
import { parseLabelsCsv } from "../web/loadgen.ts";

/** The shared dataset folder, seen from this repo; `FR_DATASET_DIR` overrides. */
export const COURSE_DATA_DIR = (() => {
  const dir = Deno.env.get("FR_DATASET_DIR");
  return dir
    ? new URL(`file://${dir.endsWith("/") ? dir : dir + "/"}`)
    : new URL("../../shared/datasets/cse546/", import.meta.url);
})();

/** Whether the dataset is present on this machine. */
export const HAS_COURSE_DATA = (() => {
  try {
    Deno.statSync(new URL("labels_100.csv", COURSE_DATA_DIR));
    return true;
  } catch {
    console.error(`course dataset not found at ${COURSE_DATA_DIR.pathname}: its tests are ignored`);
    return false;
  }
})();

/**
 * Unzips one of the dataset's image archives into `dir` (flat: file names only), skipping
 * macOS junk entries.
 * @returns the written file paths, sorted
 */
export async function unzipCourseImages(zipName: string, dir: string): Promise<string[]> {
  const entries = unzipSync(await Deno.readFile(new URL(zipName, COURSE_DATA_DIR)));
  const written: string[] = [];
  for (const [name, bytes] of Object.entries(entries)) {
    const base = name.slice(name.lastIndexOf("/") + 1);
    if (!base || name.includes("__MACOSX") || base.startsWith(".")) continue;
    await Deno.writeFile(`${dir}/${base}`, bytes);
    written.push(`${dir}/${base}`);
  }
  return written.sort();
}

/** `Image,Results` rows of a labels CSV as a map from stem to label. */
export async function readCourseLabels(csvName: string): Promise<Map<string, string>> {
  return parseLabelsCsv(await Deno.readTextFile(new URL(csvName, COURSE_DATA_DIR)));
}
