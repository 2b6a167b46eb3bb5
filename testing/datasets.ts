/**
 * Where tests and benchmarks find the shared datasets: `../shared/datasets/` seen from the project
 * root, as their READMEs ask (never copied into the repo). `FR_DATASET_DIR` points at another
 * copy of the course dataset (`cse546/`). Everything that reads a dataset takes its path from
 * here.
 * @module
 */
import { unzipSync } from "fflate";
import { parseLabelsCsv } from "../bench/loadgen.ts";

const ROOT = new URL("../", import.meta.url);

/** The shared datasets folder (`faces-public/`, `cse546/`), with a trailing slash. */
export const SHARED_DATASETS_DIR: URL = new URL("../shared/datasets/", ROOT);

/** The course dataset folder, with a trailing slash; `FR_DATASET_DIR` overrides. */
export const COURSE_DATA_DIR: URL = (() => {
  const dir = Deno.env.get("FR_DATASET_DIR");
  return dir
    ? new URL(`file://${dir.endsWith("/") ? dir : dir + "/"}`)
    : new URL("cse546/", SHARED_DATASETS_DIR);
})();

/** The course dataset folder as a path, without a trailing slash. */
export const CSE546_DIR: string = COURSE_DATA_DIR.pathname.replace(/\/$/, "");

/** The small labelled real photos (pairs, group photos, 2048-px photos), with a trailing slash. */
export const FACES_PUBLIC_DIR: URL = new URL("faces-public/", SHARED_DATASETS_DIR);

/** Whether the course dataset is present on this machine (says so once when it is not). */
export const HAS_COURSE_DATA: boolean = (() => {
  try {
    Deno.statSync(new URL("labels_100.csv", COURSE_DATA_DIR));
    return true;
  } catch {
    console.error(`course dataset not found at ${CSE546_DIR}: its tests are ignored`);
    return false;
  }
})();

/** Whether faces-public is present on this machine (says so once when it is not). */
export const HAS_FACES_PUBLIC: boolean = (() => {
  try {
    Deno.statSync(new URL("openface/lennon-1.jpg", FACES_PUBLIC_DIR));
    return true;
  } catch {
    console.error(`faces-public not found at ${FACES_PUBLIC_DIR.pathname}: its tests are ignored`);
    return false;
  }
})();

/**
 * The path of a course dataset file, or `undefined` (after saying so) when it is absent, for
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

/**
 * The entries of one of the course dataset's image archives, flat (file names only), without
 * macOS junk entries, sorted by name.
 */
export function courseZipEntries(zipName: string): [name: string, bytes: Uint8Array][] {
  const entries = unzipSync(Deno.readFileSync(new URL(zipName, COURSE_DATA_DIR)));
  const files: [string, Uint8Array][] = [];
  for (const [name, bytes] of Object.entries(entries)) {
    const base = name.slice(name.lastIndexOf("/") + 1);
    if (!base || name.includes("__MACOSX") || base.startsWith(".")) continue;
    files.push([base, bytes]);
  }
  return files.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Unzips one of the course dataset's image archives into `dir` (see {@linkcode courseZipEntries}).
 * @returns the written file paths, sorted
 */
export async function unzipCourseImages(zipName: string, dir: string): Promise<string[]> {
  const written: string[] = [];
  for (const [name, bytes] of courseZipEntries(zipName)) {
    await Deno.writeFile(`${dir}/${name}`, bytes);
    written.push(`${dir}/${name}`);
  }
  return written;
}

/** `Image,Results` rows of a course labels CSV as a map from stem to label. */
export async function readCourseLabels(csvName: string): Promise<Map<string, string>> {
  return parseLabelsCsv(await Deno.readTextFile(new URL(csvName, COURSE_DATA_DIR)));
}
