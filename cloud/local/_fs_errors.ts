import { StorageError } from "../errors.ts";

/** OS error codes that mean "the disk will not take this", with what to do about each. */
const STORAGE_CODES: Record<string, string> = {
  ENOSPC: "the disk is full: free space or point the data directory elsewhere",
  EDQUOT: "the disk quota is used up: free space or raise the quota",
  EFBIG: "the file system refused a file this large: lower objectBytesMax or raise the limit",
  EROFS: "the data directory is on a read-only file system: choose a writable data directory",
  EACCES: "permission denied: make the data directory writable by this user",
  EPERM: "operation not permitted: make the data directory writable by this user",
  EIO: "the disk reported an I/O error: check the device",
};

/**
 * Turns an OS error from a file operation into a {@linkcode StorageError} when it is one of the
 * "disk refused" kinds; returns other errors unchanged so callers rethrow them.
 */
export function toStorageError(error: unknown, path: string, doing: string): unknown {
  const code = (error as { code?: string })?.code;
  const advice = code ? STORAGE_CODES[code] : undefined;
  if (advice !== undefined) {
    return new StorageError(path, `${doing} failed with ${code}: ${advice}`, { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new StorageError(path, `${doing} failed: ${STORAGE_CODES.EACCES}`, { cause: error });
  }
  return error;
}
