import { StorageError, type StorageReason } from "../errors.ts";

/**
 * OS error codes that mean "the disk will not take this", with why and what to do about each.
 * The advice never names the path: messages may reach HTTP clients.
 */
const STORAGE_CODES: Record<string, { reason: StorageReason; advice: string }> = {
  ENOSPC: {
    reason: "disk_full",
    advice: "the disk is full: free space or point the data directory elsewhere",
  },
  EDQUOT: {
    reason: "disk_full",
    advice: "the disk quota is used up: free space or raise the quota",
  },
  EFBIG: {
    reason: "too_large",
    advice: "the file system refused a file this large: lower objectBytesMax or raise the limit",
  },
  EROFS: {
    reason: "read_only",
    advice: "the data directory is on a read-only file system: choose a writable data directory",
  },
  EACCES: {
    reason: "permission",
    advice: "permission denied: make the data directory writable by this user",
  },
  EPERM: {
    reason: "permission",
    advice: "operation not permitted: make the data directory writable by this user",
  },
  EIO: { reason: "io", advice: "the disk reported an I/O error: check the device" },
};

/**
 * Turns an OS error (one with an errno `code`) from a file operation into a
 * {@linkcode StorageError}, saying why for the "disk refused" kinds; returns other errors (ours,
 * such as a limit) unchanged so callers rethrow them.
 */
export function toStorageError(error: unknown, path: string, doing: string): unknown {
  const code = (error as { code?: string })?.code;
  const known = code ? STORAGE_CODES[code] : undefined;
  if (known !== undefined) {
    return new StorageError(path, `${doing} failed with ${code}: ${known.advice}`, {
      cause: error,
      reason: known.reason,
    });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new StorageError(path, `${doing} failed: ${STORAGE_CODES.EACCES.advice}`, {
      cause: error,
      reason: "permission",
    });
  }
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) {
    // Any other OS error: typed too, and without the OS's message, which names the path.
    return new StorageError(path, `${doing} failed with ${code}`, { cause: error });
  }
  return error;
}
