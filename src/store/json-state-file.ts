import { existsSync, readFileSync, renameSync } from 'node:fs';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { isErrno, writeFileAtomicSync } from './atomic-file.js';

/**
 * Small whole-file JSON stores (sessions, workspace aliases, access list): the file is a boundary,
 * so what comes off disk goes through a zod schema before anything trusts it.
 */
export type StateFileRead<T> =
  | { kind: 'missing' }
  | { kind: 'ok'; value: T }
  /** Not JSON, or JSON of the wrong shape; `problem` is written for a person. */
  | { kind: 'corrupt'; problem: string };

/**
 * Read and validate `path`. A missing file is `missing`; a file that does not parse or fails the
 * schema is `corrupt` — each store decides what that means (drop a cache, or refuse to start
 * rather than forget who was granted access). Any other I/O failure throws a LarkcodeError.
 */
export function readStateFile<T>(path: string, schema: z.ZodType<T>): StateFileRead<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { kind: 'missing' };
    throw new LarkcodeError('config', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { kind: 'corrupt', problem: `not valid JSON (${(error as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { kind: 'corrupt', problem: z.prettifyError(parsed.error) };
  return { kind: 'ok', value: parsed.data };
}

/**
 * Replace `path` with `value` as indented JSON (people read these files), atomically and durably:
 * temp + fsync + rename + directory fsync. These stores change rarely, so the ~5–10 ms fsync per
 * change buys "acknowledged ⇒ survives a power loss" cheaply. Mode 0600: ids of people and chats.
 */
export function writeStateFile(path: string, value: unknown): void {
  writeFileAtomicSync(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
}

/** Rename a bad file aside (`.corrupt`, or `.<ms>.corrupt` if taken) instead of destroying it. */
export function quarantineFile(path: string, now: () => number = Date.now): string | undefined {
  let target = `${path}.corrupt`;
  if (existsSync(target)) target = `${path}.${now()}.corrupt`;
  try {
    renameSync(path, target);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  return target;
}
