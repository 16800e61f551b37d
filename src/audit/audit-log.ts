import { mkdirSync, readFileSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { isErrno } from '../store/atomic-file.js';
import { DeferredSync } from '../store/deferred-sync.js';

const FILE = 'audit.jsonl';
export const DEFAULT_AUDIT_MAX_BYTES = 10 * 1024 * 1024;
/** Rotated files kept: audit.jsonl.1 (newest) … audit.jsonl.3. */
export const DEFAULT_AUDIT_KEEP = 3;
/** Records waiting for the disk beyond this are dropped (and reported): memory stays bounded. */
const DEFAULT_MAX_PENDING = 10_000;
/** A line longer than this loses its `detail`: one runaway record must not fill the log. */
const MAX_LINE_BYTES = 16 * 1024;
const MAX_DETAIL_DEPTH = 6;

/** A `detail` key naming a credential: its value is never written, whatever it is. */
const SECRET_KEY = /secret|token|key|password/i;
export const REDACTED = '[redacted]';

export const auditDecisions = ['allowed', 'denied', 'done'] as const;

/** One line of `audit.jsonl`; also the schema a reader applies to each line. */
export const auditRecordSchema = z.strictObject({
  at: z.iso.datetime(),
  /** Who: an open id, or "system" / "cli" for the daemon itself. */
  actor: z.string().min(1).max(200),
  scopeId: z.string().min(1).max(400).optional(),
  /** What, dotted: 'command./cd', 'run.start', 'run.stop', 'policy.change', 'card.action'. */
  action: z.string().min(1).max(100),
  decision: z.enum(auditDecisions),
  reason: z.string().max(2000).optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

export type AuditRecord = z.infer<typeof auditRecordSchema>;
/** What a caller records; `at` defaults to the log's clock. */
export type AuditInput = Omit<AuditRecord, 'at'> & { at?: string };

export interface AuditLogOptions {
  /** Told about every failure (invalid record, write error, dropped records); the log never throws. */
  onError?: (error: unknown) => void;
  now?: () => number;
  /** Rotate before a write would take the file past this. */
  maxBytes?: number;
  keep?: number;
  /** fsync grouping window (DeferredSync). */
  syncWindowMs?: number;
  maxPending?: number;
}

/**
 * Append-only audit trail of decisions (commands, runs, policy changes, card clicks) in
 * `<stateDir>/audit.jsonl`, one JSON record per line.
 *
 * `record` only validates, redacts and queues — it never waits for the disk and never throws (an
 * audit failure must not turn an allowed action into an error): failures go to `onError`. A single
 * drain loop appends queued lines in order, one write in flight, batching whatever arrived during
 * the previous write; fsync is grouped through DeferredSync, so a burst of records costs a few
 * syncs, not one each. `flush()` (shutdown) resolves once everything queued is written and synced.
 *
 * Rotation: before a write would take the file past `maxBytes` it is synced, closed and renamed to
 * `audit.jsonl.1` (older ones shift up to `.keep`; the oldest is overwritten).
 *
 * A kill -9 can leave a torn last line; the next open starts on a fresh line, so only that one
 * record is lost, and readers (`readAuditFileSync`) skip lines that do not parse.
 *
 * Single writer: one log per state directory.
 */
export class AuditLog {
  readonly #path: string;
  readonly #dir: string;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #maxPending: number;
  readonly #sync: DeferredSync;
  /** Serialized lines, each ending in '\n', in record order. */
  #queue: string[] = [];
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #handle: FileHandle | undefined;
  #size = 0;
  /** The file did not end in '\n' when opened (torn by a kill): start the next write on a new line. */
  #needsNewline = false;
  #dropped = 0;
  #closed = false;

  private constructor(stateDir: string, options: AuditLogOptions) {
    this.#dir = stateDir;
    this.#path = join(stateDir, FILE);
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#maxBytes = Math.max(1024, options.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES);
    this.#keep = Math.max(1, options.keep ?? DEFAULT_AUDIT_KEEP);
    this.#maxPending = Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING);
    this.#sync = new DeferredSync(options.syncWindowMs);
  }

  /** Creates the directory; the file itself is opened by the first write. */
  static open(stateDir: string, options: AuditLogOptions = {}): AuditLog {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return new AuditLog(stateDir, options);
  }

  get path(): string {
    return this.#path;
  }

  /** Queue one record. Never throws, never waits for I/O. */
  record(input: AuditInput): void {
    try {
      if (this.#closed) throw new LarkcodeError('internal', `audit log is closed; lost ${describe(input)}`);
      const line = this.#serialize(input);
      if (line === undefined) return;
      if (this.#queue.length >= this.#maxPending) {
        if (this.#dropped++ === 0) {
          this.#report(
            new LarkcodeError('internal', `audit log is ${this.#maxPending} records behind; dropping`),
          );
        }
        return;
      }
      this.#queue.push(line);
      if (!this.#draining) {
        this.#draining = true;
        this.#drained = this.#drain();
      }
    } catch (error) {
      this.#report(error);
    }
  }

  /** Resolves once every record queued so far (and any queued meanwhile) is written and fsynced. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#drained;
    await this.#sync.flush();
  }

  /** Flush and close the file; later records are reported to `onError`, not written. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#closeHandle();
  }

  #serialize(input: AuditInput): string | undefined {
    const parsed = auditRecordSchema.safeParse({
      ...input,
      at: input.at ?? new Date(this.#now()).toISOString(),
    });
    if (!parsed.success) {
      this.#report(
        new LarkcodeError(
          'internal',
          `audit record refused (${describe(input)}): ${z.prettifyError(parsed.error)}`,
        ),
      );
      return undefined;
    }
    const record = parsed.data;
    if (record.detail !== undefined) record.detail = redactDetail(record.detail);
    let line = JSON.stringify(record);
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      const bytes = Buffer.byteLength(JSON.stringify(record.detail));
      line = JSON.stringify({
        ...record,
        reason: record.reason?.slice(0, 500),
        detail: { truncated: bytes },
      });
    }
    return `${line}\n`;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        try {
          await this.#writeBatch();
        } catch (error) {
          // The file's state is unknown (a partial write?): reopen, which re-checks the tail. The
          // queued records are dropped with a report rather than retried forever against a bad disk.
          const lost = this.#queue.length;
          this.#queue = [];
          this.#report(
            new LarkcodeError('internal', `audit log write failed; ${lost} queued record(s) lost`, {
              cause: error,
            }),
          );
          await this.#closeHandle().catch(() => {});
        }
      }
    } finally {
      if (this.#dropped > 0) {
        this.#report(
          new LarkcodeError('internal', `audit log dropped ${this.#dropped} record(s) while behind`),
        );
        this.#dropped = 0;
      }
      // Synchronous with the loop's last check: a record() after this starts a new drain.
      this.#draining = false;
    }
  }

  async #writeBatch(): Promise<void> {
    const handle = await this.#ensureOpen();
    const room = this.#maxBytes - this.#size - (this.#needsNewline ? 1 : 0);
    let bytes = 0;
    let count = 0;
    for (const line of this.#queue) {
      const length = Buffer.byteLength(line);
      // Always take at least one line into an empty file, however long.
      if (bytes + length > room && !(count === 0 && this.#size === 0)) break;
      bytes += length;
      count++;
    }
    if (count === 0) {
      await this.#rotate();
      return;
    }
    const lines = this.#queue.splice(0, count);
    const data = Buffer.from((this.#needsNewline ? '\n' : '') + lines.join(''), 'utf8');
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    this.#needsNewline = false;
    this.#size += data.length;
    this.#sync.schedule(this.#path);
  }

  async #ensureOpen(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    const handle = await open(this.#path, 'a+', 0o600);
    try {
      const { size } = await handle.stat();
      let torn = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        torn = last[0] !== 0x0a;
      }
      this.#size = size;
      this.#needsNewline = torn;
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
    this.#sync.schedule(this.#dir); // the file may be new
    this.#handle = handle;
    return handle;
  }

  /** Sync and close the full file, shift `.1…` up, and start a new one at the next write. */
  async #rotate(): Promise<void> {
    // DeferredSync syncs by path; after the rename the path names the new file, so sync this one now.
    await this.#handle?.sync();
    await this.#closeHandle();
    for (let i = this.#keep - 1; i >= 1; i--)
      await renameIfExists(`${this.#path}.${i}`, `${this.#path}.${i + 1}`);
    await rename(this.#path, `${this.#path}.1`);
    this.#size = 0;
    this.#needsNewline = false;
    this.#sync.schedule(this.#dir);
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // an onError that throws must not break record() either
    }
  }
}

/**
 * Parse an audit file: the records, and how many lines did not parse (a torn last line after a
 * kill, or hand edits). A missing file has no records.
 */
export function readAuditFileSync(path: string): { records: AuditRecord[]; skipped: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { records: [], skipped: 0 };
    throw error;
  }
  const records: AuditRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const parsed = auditRecordSchema.safeParse(json);
    if (parsed.success) records.push(parsed.data);
    else skipped++;
  }
  return { records, skipped };
}

/**
 * A JSON-safe copy of `detail` with every value under a secret-looking key replaced, at any
 * depth. Also tames what JSON.stringify would throw on or mangle (cycles, bigint, buffers).
 */
export function redactDetail(detail: Record<string, unknown>): Record<string, unknown> {
  return redactValue(detail, 0, new WeakSet()) as Record<string, unknown>;
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? null : object.toISOString();
  if (object instanceof Error) return { name: object.name, message: object.message };
  if (ArrayBuffer.isView(object)) return `[${object.byteLength} bytes]`;
  if (seen.has(object)) return '[circular]';
  if (depth >= MAX_DETAIL_DEPTH) return '[too deep]';
  seen.add(object);
  let out: unknown;
  if (Array.isArray(object)) {
    out = object.map((item) => redactValue(item, depth + 1, seen) ?? null);
  } else {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(object)) {
      const safe = SECRET_KEY.test(key) ? REDACTED : redactValue(item, depth + 1, seen);
      if (safe !== undefined) copy[key] = safe;
    }
    out = copy;
  }
  seen.delete(object); // shared (not circular) references are fine
  return out;
}

function describe(input: AuditInput): string {
  return `${String(input?.action)} by ${String(input?.actor)}`;
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}
