/**
 * The course's labels CSV: a header `Image,Results`, then one `stem,label` row per image
 * (`test_00,Paul`). Parsed per RFC 4180 (quoted fields, `""` escapes, CRLF/LF/CR line ends) and
 * tolerant of a UTF-8 byte order mark, since spreadsheet exports add one.
 * @module
 */
import { LabelsCsvError } from "./errors.ts";
import { personNameProblem } from "./gallery.ts";

/** Most data rows accepted. */
export const LABELS_CSV_ROWS_MAX = 100_000;
/** Largest CSV accepted, in bytes. */
export const LABELS_CSV_BYTES_MAX = 16 * 1024 * 1024;
/** Longest image name (stem or file name) in a row, in code points. */
export const IMAGE_NAME_CHARS_MAX = 255;

// An image name is looked up in a directory listing, never joined into a path, but anything that
// could mean a path (slash, backslash, leading dot, "..") is refused outright so it never will be.
const IMAGE_NAME_PATTERN = /^[\p{L}\p{N}_][\p{L}\p{M}\p{N} ._()+-]*$/u;

/** One usable row. */
export interface LabelRow {
  /** 1-based line where the row starts. */
  readonly line: number;
  /** The image stem (or file name) from the `Image` column. */
  readonly image: string;
  /** The person from the `Results` column. */
  readonly label: string;
}

/** A row that cannot be used, and why. */
export interface LabelRowProblem {
  readonly line: number;
  readonly message: string;
}

/** A row repeating an earlier row's image with the same label (kept once). */
export interface LabelRowDuplicate {
  readonly line: number;
  readonly image: string;
  readonly firstLine: number;
}

/** The parsed CSV: usable rows, rows refused with reasons, repeated rows. */
export interface LabelsCsv {
  readonly rows: readonly LabelRow[];
  readonly problems: readonly LabelRowProblem[];
  readonly duplicates: readonly LabelRowDuplicate[];
}

/**
 * Says what is wrong with an image name from a CSV, or `undefined` when it is acceptable.
 *
 * @param name the `Image` column's value
 * @returns a problem description or `undefined`
 */
export function imageNameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if ([...name].length > IMAGE_NAME_CHARS_MAX) {
    return `is longer than IMAGE_NAME_CHARS_MAX (${IMAGE_NAME_CHARS_MAX})`;
  }
  if (!IMAGE_NAME_PATTERN.test(name) || name.includes("..")) {
    return "is not a plain file name (letters, digits, space and ._()+- only; no path, no " +
      "leading dot)";
  }
  return undefined;
}

interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
}

/** Splits CSV text into records (RFC 4180); throws on an unterminated or misplaced quote. */
function* csvRecords(text: string): Generator<CsvRecord> {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new LabelsCsvError(quoteLine, "a quoted field is never closed");
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          throw new LabelsCsvError(
            line,
            `unexpected ${JSON.stringify(text[i])} after a quoted field`,
          );
        }
      } else {
        const start = i;
        while (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          if (text[i] === '"') {
            throw new LabelsCsvError(line, "a quote inside an unquoted field (quote the field)");
          }
          i++;
        }
        field = text.slice(start, i);
      }
      fields.push(field);
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === "\r") i++;
    if (text[i] === "\n") i++;
    line++;
    yield { line: startLine, fields };
  }
}

/**
 * Parses an `Image,Results` labels CSV.
 *
 * Blank lines are ignored; rows with a wrong field count, an unsafe image name or an unusable
 * person name are returned in `problems` (the caller reports them); a repeated image with the
 * same label is kept once and listed in `duplicates`, with another label it is a problem.
 *
 * @param text the CSV's text (a leading BOM is accepted)
 * @returns rows, problems and duplicates
 * @throws {LabelsCsvError} when the header is not `Image,Results`, a quote is malformed, or
 *   there are more than LABELS_CSV_ROWS_MAX rows
 * @example
 * ```ts
 * parseLabelsCsv("Image,Results\r\ntest_00,Paul\r\n").rows; // [{line: 2, image: "test_00", label: "Paul"}]
 * ```
 */
export function parseLabelsCsv(text: string): LabelsCsv {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: LabelRow[] = [];
  const problems: LabelRowProblem[] = [];
  const duplicates: LabelRowDuplicate[] = [];
  const firstRow = new Map<string, LabelRow>();
  let headerSeen = false;
  for (const { line, fields } of csvRecords(text)) {
    const trimmed = fields.map((f) => f.trim());
    if (trimmed.length === 1 && trimmed[0] === "") continue;
    if (!headerSeen) {
      if (
        trimmed.length !== 2 || trimmed[0].toLowerCase() !== "image" ||
        trimmed[1].toLowerCase() !== "results"
      ) {
        throw new LabelsCsvError(
          line,
          `expected the header "Image,Results", found ${JSON.stringify(fields.join(","))}`,
        );
      }
      headerSeen = true;
      continue;
    }
    if (rows.length + problems.length + duplicates.length >= LABELS_CSV_ROWS_MAX) {
      throw new LabelsCsvError(line, `more than LABELS_CSV_ROWS_MAX (${LABELS_CSV_ROWS_MAX}) rows`);
    }
    const problem = rowProblem(trimmed);
    if (problem) {
      problems.push({ line, message: problem });
      continue;
    }
    const [image, label] = trimmed;
    const first = firstRow.get(image);
    if (first && first.label === label) {
      duplicates.push({ line, image, firstLine: first.line });
    } else if (first) {
      problems.push({
        line,
        message: `image ${JSON.stringify(image)} is labelled ${JSON.stringify(label)} here but ` +
          `${JSON.stringify(first.label)} on line ${first.line}; the first label is kept`,
      });
    } else {
      const row = { line, image, label };
      firstRow.set(image, row);
      rows.push(row);
    }
  }
  if (!headerSeen) throw new LabelsCsvError(1, 'the file is empty (expected "Image,Results")');
  return { rows, problems, duplicates };
}

function rowProblem(fields: readonly string[]): string | undefined {
  if (fields.length !== 2) {
    return `expected 2 fields (Image,Results), found ${fields.length}: ` +
      JSON.stringify(fields.join(","));
  }
  const [image, label] = fields;
  const imageProblem = imageNameProblem(image);
  if (imageProblem) return `image name ${JSON.stringify(image)} ${imageProblem}`;
  const nameProblem = personNameProblem(label);
  if (nameProblem) return `label ${JSON.stringify(label)} ${nameProblem}`;
  return undefined;
}
