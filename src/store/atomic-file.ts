import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Crash-safe whole-file replacement.
 *
 * Why each step:
 * - temp file in the **same directory**: `rename(2)` is only atomic within one file system;
 * - `fsync` the temp file before the rename: otherwise, after a power loss, the rename can be on
 *   disk while the data is not (ext4/xfs delayed allocation → an empty or zero-filled target);
 * - `rename` over the target: readers see the old file or the new one, never a mix;
 * - `fsync` the directory: the rename itself is a directory change; until the directory is
 *   flushed a power loss can bring back the old entry, i.e. lose an acknowledged write.
 *
 * The temp name is fixed (`<path>.tmp`): one writer per path is assumed (the daemon owns its state
 * directory), and a leftover from a kill is simply overwritten by the next write to that path, so
 * leftovers never pile up. Readers only ever open the target, never `*.tmp`.
 */
export interface AtomicWriteOptions {
  /** File mode for a newly created file; default 0o600 (state holds chat content). */
  mode?: number;
  /**
   * false: skip both fsyncs — the write is still atomic against a killed process; the caller
   * makes it durable against power loss later (see DeferredSync). Default true.
   */
  sync?: boolean;
}

export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', options.mode ?? 0o600);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (options.sync !== false) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkQuiet(tmp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (error) {
    unlinkQuiet(tmp);
    throw error;
  }
  if (options.sync !== false) fsyncDirSync(dirname(path));
}

/**
 * Flush a directory's entries (creates, renames, unlinks) to disk. A no-op on Windows, where
 * directories cannot be opened for fsync (and NTFS journals renames itself).
 */
export function fsyncDirSync(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Parsed JSON of a file, or `undefined` when the file does not exist. Any other failure (I/O,
 * invalid JSON — a `SyntaxError`) throws, so the caller decides what a corrupt file means.
 */
export function readJsonSync<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // best effort: a leftover temp file is harmless (overwritten by the next write)
  }
}
