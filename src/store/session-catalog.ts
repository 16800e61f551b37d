import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { quarantineFile, readStateFile, writeStateFile } from './json-state-file.js';

const FILE = 'sessions.json';
/** Per scope; a chat that starts a new thread every day still shows ~2 months of them. */
export const MAX_SESSIONS_PER_SCOPE = 50;
/** Summaries are a one-line reminder in a list ("which thread was that?"), not the prompt. */
export const SUMMARY_MAX_CHARS = 120;

const timestamp = z.number().int().nonnegative();

export const sessionEntrySchema = z.strictObject({
  key: z.string().regex(/^[0-9a-f]{24}$/),
  scopeId: z.string().min(1),
  cwd: z.string().refine(isAbsolute, { message: 'must be an absolute path' }),
  policyFingerprint: z.string().min(1),
  threadId: z.string().min(1),
  createdAt: timestamp,
  lastUsedAt: timestamp,
  summary: z
    .string()
    .min(1)
    .max(SUMMARY_MAX_CHARS)
    .regex(/^[^\r\n\u2028\u2029]*$/, { message: 'must be one line' })
    .optional(),
  status: z.enum(['active', 'archived']),
});

/** `<stateDir>/sessions.json`. */
export const sessionsFileSchema = z.strictObject({ sessions: z.array(sessionEntrySchema) });

export type SessionEntry = z.infer<typeof sessionEntrySchema>;
export type SessionStatus = SessionEntry['status'];

const recordInputSchema = z.strictObject({
  scopeId: z.string().min(1),
  cwd: z.string().refine(isAbsolute, { message: 'must be an absolute path' }),
  policyFingerprint: z.string().min(1),
  threadId: z.string().min(1),
  at: timestamp,
  summary: z.string().optional(),
});

export type SessionRecordInput = z.input<typeof recordInputSchema>;

export interface SessionCatalogOptions {
  /** Told when a corrupt sessions.json was set aside (the catalog then starts empty). */
  onCorrupt?: (info: { path: string; movedTo: string | undefined; problem: string }) => void;
}

/**
 * The key a resumable thread is filed under: which chat, which directory, which policy. Resuming
 * only under the same key means a thread never silently continues with a wider sandbox or in
 * another directory than it was started with.
 */
export function sessionKey(scopeId: string, cwd: string, policyFingerprint: string): string {
  return createHash('sha256').update(`${scopeId}|${cwd}|${policyFingerprint}`).digest('hex').slice(0, 24);
}

/**
 * One line, whitespace collapsed, at most SUMMARY_MAX_CHARS UTF-16 units (what the schema's
 * `max` counts), `…` marking a cut that never splits a surrogate pair; empty → undefined.
 */
export function summarize(text: string): string | undefined {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length === 0) return undefined;
  if (line.length <= SUMMARY_MAX_CHARS) return line;
  let cut = SUMMARY_MAX_CHARS - 1;
  if (isHighSurrogate(line.charCodeAt(cut - 1))) cut--;
  return `${line.slice(0, cut).trimEnd()}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Agent threads each chat has used, so /sessions can list them and a new run can safely resume
 * the newest thread made under the same directory and policy.
 *
 * One file, `<stateDir>/sessions.json`, rewritten atomically and fsynced on every change (changes
 * come at most once per run). A file that is corrupt is set aside as `sessions.json.corrupt` and
 * the catalog starts empty: it only remembers resumable threads, so losing it costs a fresh thread,
 * while refusing to start would cost the whole daemon.
 *
 * Single writer: one catalog per state directory. Results are copies; all methods are synchronous.
 */
export class SessionCatalog {
  readonly #path: string;
  /** scopeId → entries, newest `lastUsedAt` first. */
  #byScope: Map<string, SessionEntry[]>;

  private constructor(path: string, byScope: Map<string, SessionEntry[]>) {
    this.#path = path;
    this.#byScope = byScope;
  }

  static open(stateDir: string, options: SessionCatalogOptions = {}): SessionCatalog {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, FILE);
    const read = readStateFile(path, sessionsFileSchema);
    const byScope = new Map<string, SessionEntry[]>();
    if (read.kind === 'corrupt') {
      const movedTo = quarantineFile(path);
      options.onCorrupt?.({ path, movedTo, problem: read.problem });
    } else if (read.kind === 'ok') {
      for (const entry of read.value.sessions) {
        // The key is derived; a hand-edited file could disagree. Recompute rather than trust it.
        const fixed = { ...entry, key: sessionKey(entry.scopeId, entry.cwd, entry.policyFingerprint) };
        const list = byScope.get(entry.scopeId) ?? [];
        // Duplicate threads (hand edits only): keep the first, as the newest-first file order has it.
        if (!list.some((e) => e.threadId === entry.threadId)) list.push(fixed);
        byScope.set(entry.scopeId, list);
      }
      for (const list of byScope.values()) list.sort(newestFirst);
    }
    return new SessionCatalog(path, byScope);
  }

  /**
   * Note that `threadId` was used in this scope at `at`. A known thread gets the new `lastUsedAt`,
   * the directory and policy it was used under now (so its key follows its latest use) and becomes
   * active again; it keeps its summary (or takes this one if it had none). A new thread is added.
   * Returns the stored entry.
   */
  record(input: SessionRecordInput): SessionEntry {
    const { scopeId, cwd, policyFingerprint, threadId, at, summary } = parseInput(recordInputSchema, input);
    const key = sessionKey(scopeId, cwd, policyFingerprint);
    const list = [...(this.#byScope.get(scopeId) ?? [])];
    const index = list.findIndex((e) => e.threadId === threadId);
    let entry: SessionEntry;
    if (index >= 0) {
      const known = list[index]!;
      entry = {
        ...known,
        key,
        cwd,
        policyFingerprint,
        lastUsedAt: Math.max(known.lastUsedAt, at),
        status: 'active',
      };
      if (entry.summary === undefined && summary !== undefined) setSummary(entry, summary);
      list[index] = entry;
    } else {
      entry = {
        key,
        scopeId,
        cwd,
        policyFingerprint,
        threadId,
        createdAt: at,
        lastUsedAt: at,
        status: 'active',
      };
      if (summary !== undefined) setSummary(entry, summary);
      list.push(entry);
    }
    list.sort(newestFirst);
    this.#commit(scopeId, capped(list, threadId));
    return { ...entry };
  }

  /** Every thread of the scope, newest `lastUsedAt` first. */
  forScope(scopeId: string): SessionEntry[] {
    return (this.#byScope.get(scopeId) ?? []).map((e) => ({ ...e }));
  }

  /**
   * The newest active thread started under exactly this scope, directory and policy — the one a
   * new run may resume. The fields are compared too, not only the (truncated, `|`-joined) key, so a
   * key collision can never hand a thread to another directory.
   */
  find(scopeId: string, cwd: string, policyFingerprint: string): SessionEntry | undefined {
    const key = sessionKey(scopeId, cwd, policyFingerprint);
    const hit = this.#byScope
      .get(scopeId)
      ?.find(
        (e) =>
          e.status === 'active' &&
          e.key === key &&
          e.cwd === cwd &&
          e.policyFingerprint === policyFingerprint,
      );
    return hit && { ...hit };
  }

  byThread(scopeId: string, threadId: string): SessionEntry | undefined {
    const hit = this.#byScope.get(scopeId)?.find((e) => e.threadId === threadId);
    return hit && { ...hit };
  }

  /** Archive the thread (kept in the list, never resumed by `find`). False when the scope has no such thread. */
  archive(scopeId: string, threadId: string): boolean {
    const list = this.#byScope.get(scopeId);
    const index = list?.findIndex((e) => e.threadId === threadId) ?? -1;
    if (!list || index < 0) return false;
    if (list[index]!.status === 'archived') return true;
    const next = [...list];
    next[index] = { ...list[index]!, status: 'archived' };
    this.#commit(scopeId, next);
    return true;
  }

  /** Scope ids with at least one entry. */
  scopes(): string[] {
    return [...this.#byScope.keys()];
  }

  /** Write the whole catalog with `scopeId`'s list replaced; memory changes only once it is on disk. */
  #commit(scopeId: string, list: SessionEntry[]): void {
    const next = new Map(this.#byScope);
    next.set(scopeId, list);
    const sessions = [...next.values()].flat();
    writeStateFile(this.#path, { sessions } satisfies z.input<typeof sessionsFileSchema>);
    this.#byScope = next;
  }
}

function setSummary(entry: SessionEntry, text: string): void {
  const line = summarize(text);
  if (line !== undefined) entry.summary = line;
}

/** Total order, so a list reads the same from memory and after a reload. */
function newestFirst(a: SessionEntry, b: SessionEntry): number {
  return (
    b.lastUsedAt - a.lastUsedAt ||
    b.createdAt - a.createdAt ||
    (a.threadId < b.threadId ? -1 : a.threadId > b.threadId ? 1 : 0)
  );
}

/**
 * At most MAX_SESSIONS_PER_SCOPE entries: drop the oldest archived ones first (nobody resumes
 * those), then the oldest. `keep` (the thread just recorded) is never dropped, even if the caller
 * passed an old time. `list` is newest first.
 */
function capped(list: SessionEntry[], keep: string): SessionEntry[] {
  let excess = list.length - MAX_SESSIONS_PER_SCOPE;
  if (excess <= 0) return list;
  const drop = new Set<SessionEntry>();
  for (const archivedOnly of [true, false]) {
    for (let i = list.length - 1; i >= 0 && excess > 0; i--) {
      const e = list[i]!;
      if (drop.has(e) || e.threadId === keep || (archivedOnly && e.status !== 'archived')) continue;
      drop.add(e);
      excess--;
    }
  }
  return list.filter((e) => !drop.has(e));
}

function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new LarkcodeError('internal', `SessionCatalog.record: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
