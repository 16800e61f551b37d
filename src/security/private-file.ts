import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { LarkcodeError } from '../core/errors.js';
import { isErrno } from '../store/atomic-file.js';

/**
 * The text of a file only its owner may access, or undefined when it does not exist. It is
 * opened first and checked with fstat on that descriptor: a symlink counts by its target, and
 * nothing can swap the file between check and read. Like ssh with a private key: a secret others
 * can read is already leaked, one others can write can be swapped for theirs.
 */
export function readPrivateFileSync(
  path: string,
  options: {
    maxBytes?: number /** Said when the mode is too open: what an attacker could do. */;
    risk?: string;
  } = {},
): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw new LarkcodeError(
      'config',
      `cannot open ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new LarkcodeError('config', `${path} is not a regular file`);
    // Windows has no POSIX modes to check.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      const risk = options.risk ? `; ${options.risk}` : '';
      throw new LarkcodeError(
        'config',
        `${path} is accessible to group or others (mode ${mode})${risk}; run: chmod 600 ${path}`,
      );
    }
    if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
      throw new LarkcodeError('config', `${path} is larger than ${options.maxBytes} bytes`);
    }
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof LarkcodeError) throw error;
    throw new LarkcodeError(
      'config',
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  } finally {
    closeSync(fd);
  }
}
