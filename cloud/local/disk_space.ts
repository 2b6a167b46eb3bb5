/**
 * How much room the file system under a data directory has left: one `statfs` call (about 6 µs
 * here), cheap enough to ask every second.
 * @module
 */
import { statfsSync } from "node:fs";
import { toStorageError } from "./_fs_errors.ts";

/** The file system's space, as an unprivileged process may use it. */
export interface DiskSpace {
  /** Bytes this process may still write (`f_bavail`: excludes root's reserve). */
  readonly freeBytes: number;
  /** The file system's size in bytes. */
  readonly totalBytes: number;
}

/**
 * Reads the free and total bytes of the file system that holds `path`.
 *
 * @param path a directory on that file system (it must exist)
 * @returns free and total bytes
 * @throws {StorageError} when the path cannot be looked at (missing, permission, I/O)
 * @example
 * ```ts
 * const { freeBytes } = diskSpace("./data");
 * ```
 */
export function diskSpace(path: string): DiskSpace {
  try {
    const stats = statfsSync(path);
    return {
      freeBytes: Number(stats.bavail) * Number(stats.bsize),
      totalBytes: Number(stats.blocks) * Number(stats.bsize),
    };
  } catch (error) {
    throw toStorageError(error, path, "reading the free space");
  }
}
