import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import {
  MAX_SESSIONS_PER_SCOPE,
  SessionCatalog,
  type SessionRecordInput,
  sessionKey,
  sessionsFileSchema,
  summarize,
} from '../../src/store/session-catalog.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-sessions-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const file = () => join(stateDir, 'sessions.json');
const SCOPE = 'chat:oc_a';
const use = (threadId: string, at: number, extra: Partial<SessionRecordInput> = {}): SessionRecordInput => ({
  scopeId: SCOPE,
  cwd: '/work/api',
  policyFingerprint: 'fp1',
  threadId,
  at,
  ...extra,
});

describe('SessionCatalog', () => {
  it('keys entries by sha256(scopeId|cwd|fingerprint), first 24 hex', () => {
    const expected = createHash('sha256').update('chat:oc_a|/work/api|fp1').digest('hex').slice(0, 24);
    expect(sessionKey('chat:oc_a', '/work/api', 'fp1')).toBe(expected);
    const entry = SessionCatalog.open(stateDir).record(use('t1', 10));
    expect(entry.key).toBe(expected);
  });

  it('round-trips across a reopen, in a 0600 file that matches the schema', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10, { summary: 'fix the login bug' }));
    catalog.record(use('t2', 20, { cwd: '/work/web', policyFingerprint: 'fp2' }));
    catalog.record(use('t9', 5, { scopeId: 'topic:oc_b:omt_1' }));
    const reopened = SessionCatalog.open(stateDir);
    expect(reopened.forScope(SCOPE)).toEqual(catalog.forScope(SCOPE));
    expect(reopened.forScope(SCOPE).map((e) => e.threadId)).toEqual(['t2', 't1']);
    expect(reopened.byThread(SCOPE, 't1')).toEqual({
      key: sessionKey(SCOPE, '/work/api', 'fp1'),
      scopeId: SCOPE,
      cwd: '/work/api',
      policyFingerprint: 'fp1',
      threadId: 't1',
      createdAt: 10,
      lastUsedAt: 10,
      summary: 'fix the login bug',
      status: 'active',
    });
    expect(reopened.scopes().sort()).toEqual([SCOPE, 'topic:oc_b:omt_1']);
    expect(sessionsFileSchema.safeParse(JSON.parse(readFileSync(file(), 'utf8'))).success).toBe(true);
    if (process.platform !== 'win32') expect(statSync(file()).mode & 0o777).toBe(0o600);
  });

  it('a known thread gets the new lastUsedAt and keeps its summary; a new thread is added', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10, { summary: 'first prompt' }));
    catalog.record(use('t2', 20, { summary: 'other' }));
    const again = catalog.record(use('t1', 30, { summary: 'a later prompt' }));
    expect(again).toMatchObject({ threadId: 't1', createdAt: 10, lastUsedAt: 30, summary: 'first prompt' });
    expect(catalog.forScope(SCOPE).map((e) => [e.threadId, e.lastUsedAt])).toEqual([
      ['t1', 30],
      ['t2', 20],
    ]);
    // A thread recorded without a summary takes the first one it is given.
    catalog.record(use('t3', 40));
    expect(catalog.record(use('t3', 50, { summary: 'late' })).summary).toBe('late');
    // An older time never moves lastUsedAt back.
    expect(catalog.record(use('t1', 1)).lastUsedAt).toBe(30);
  });

  it('files a thread under the directory and policy of its latest use', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    catalog.record(use('t1', 20, { cwd: '/work/web', policyFingerprint: 'fp2' }));
    expect(catalog.find(SCOPE, '/work/api', 'fp1')).toBeUndefined();
    expect(catalog.find(SCOPE, '/work/web', 'fp2')?.key).toBe(sessionKey(SCOPE, '/work/web', 'fp2'));
    expect(catalog.forScope(SCOPE)).toHaveLength(1);
  });

  it('summaries are one line of at most 120 characters', () => {
    expect(summarize('  fix\n\tthe   bug \r\n please ')).toBe('fix the bug please');
    expect(summarize(' \n ')).toBeUndefined();
    const long = summarize('word '.repeat(100))!;
    expect(long.length).toBeLessThanOrEqual(120);
    expect(long.endsWith('…')).toBe(true);
    // A cut never splits a surrogate pair.
    const emoji = summarize(`${'a'.repeat(118)}😀😀😀`)!;
    expect(emoji.length).toBeLessThanOrEqual(120);
    expect(emoji).toBe(`${'a'.repeat(118)}…`);
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 1, { summary: `line one\nline two ${'x'.repeat(300)}` }));
    const stored = SessionCatalog.open(stateDir).byThread(SCOPE, 't1')!.summary!;
    expect(stored.startsWith('line one line two x')).toBe(true);
    expect(stored.length).toBeLessThanOrEqual(120);
    catalog.record(use('t2', 2, { summary: '\n' }));
    expect(catalog.byThread(SCOPE, 't2')!.summary).toBeUndefined();
  });

  it('find: the newest active entry under exactly that scope, directory and policy', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('old', 10));
    catalog.record(use('new', 20));
    catalog.record(use('other-dir', 30, { cwd: '/work/web' }));
    catalog.record(use('other-policy', 40, { policyFingerprint: 'fp2' }));
    catalog.record(use('other-scope', 50, { scopeId: 'chat:oc_b' }));
    expect(catalog.find(SCOPE, '/work/api', 'fp1')?.threadId).toBe('new');
    expect(catalog.archive(SCOPE, 'new')).toBe(true);
    expect(catalog.find(SCOPE, '/work/api', 'fp1')?.threadId).toBe('old');
    expect(catalog.archive(SCOPE, 'old')).toBe(true);
    expect(catalog.find(SCOPE, '/work/api', 'fp1')).toBeUndefined();
    expect(catalog.find(SCOPE, '/work/api', 'fp3')).toBeUndefined();
    expect(catalog.find('chat:oc_b', '/work/api', 'fp1')?.threadId).toBe('other-scope');
  });

  it('archive keeps the entry, survives a reopen, and a new use makes it active again', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    expect(catalog.archive(SCOPE, 't1')).toBe(true);
    expect(catalog.archive(SCOPE, 't1')).toBe(true); // idempotent
    expect(catalog.archive(SCOPE, 'nope')).toBe(false);
    expect(catalog.archive('chat:none', 't1')).toBe(false);
    expect(SessionCatalog.open(stateDir).byThread(SCOPE, 't1')?.status).toBe('archived');
    catalog.record(use('t1', 20));
    expect(SessionCatalog.open(stateDir).byThread(SCOPE, 't1')?.status).toBe('active');
    expect(catalog.byThread(SCOPE, 'nope')).toBeUndefined();
    expect(catalog.forScope('chat:none')).toEqual([]);
  });

  it(`keeps at most ${MAX_SESSIONS_PER_SCOPE} per scope: oldest archived first, then oldest`, () => {
    const catalog = SessionCatalog.open(stateDir);
    for (let i = 0; i < MAX_SESSIONS_PER_SCOPE; i++) catalog.record(use(`t${i}`, 100 + i));
    catalog.record(use('other', 1, { scopeId: 'chat:oc_b' }));
    catalog.archive(SCOPE, 't10');
    catalog.archive(SCOPE, 't20');
    catalog.record(use('n1', 1000)); // drops archived t10 (older archived), not t0
    let threads = catalog.forScope(SCOPE).map((e) => e.threadId);
    expect(threads).toHaveLength(MAX_SESSIONS_PER_SCOPE);
    expect(threads).not.toContain('t10');
    expect(threads).toContain('t0');
    catalog.record(use('n2', 1001)); // drops archived t20
    catalog.record(use('n3', 1002)); // no archived left: drops the oldest, t0
    threads = catalog.forScope(SCOPE).map((e) => e.threadId);
    expect(threads).toHaveLength(MAX_SESSIONS_PER_SCOPE);
    expect(threads).not.toContain('t20');
    expect(threads).not.toContain('t0');
    expect(threads.slice(0, 3)).toEqual(['n3', 'n2', 'n1']);
    // The thread just recorded stays even when the caller's time makes it the oldest.
    catalog.record(use('ancient', 0));
    expect(catalog.byThread(SCOPE, 'ancient')).toBeDefined();
    expect(catalog.byThread(SCOPE, 't1')).toBeUndefined();
    // Other scopes are untouched, and the cap holds after a reopen.
    expect(catalog.forScope('chat:oc_b')).toHaveLength(1);
    expect(SessionCatalog.open(stateDir).forScope(SCOPE)).toEqual(catalog.forScope(SCOPE));
  });

  it('hands out copies', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    catalog.forScope(SCOPE)[0]!.status = 'archived';
    catalog.byThread(SCOPE, 't1')!.cwd = '/elsewhere';
    catalog.find(SCOPE, '/work/api', 'fp1')!.lastUsedAt = 99;
    expect(catalog.byThread(SCOPE, 't1')).toMatchObject({
      status: 'active',
      cwd: '/work/api',
      lastUsedAt: 10,
    });
  });

  it('refuses bad input with a LarkcodeError and writes nothing', () => {
    const catalog = SessionCatalog.open(stateDir);
    expect(() => catalog.record(use('t1', 10, { cwd: 'relative/dir' }))).toThrow(LarkcodeError);
    expect(() => catalog.record(use('', 10))).toThrow(/threadId/);
    expect(() => catalog.record(use('t1', -1))).toThrow(LarkcodeError);
    expect(() => catalog.record(use('t1', 10, { scopeId: '' }))).toThrow(LarkcodeError);
    expect(existsSync(file())).toBe(false);
  });

  it('sets a corrupt file aside and starts empty', () => {
    writeFileSync(file(), '{"sessions": [');
    const seen: string[] = [];
    const catalog = SessionCatalog.open(stateDir, { onCorrupt: (info) => seen.push(info.problem) });
    expect(seen[0]).toMatch(/not valid JSON/);
    expect(catalog.scopes()).toEqual([]);
    expect(readFileSync(`${file()}.corrupt`, 'utf8')).toBe('{"sessions": [');
    catalog.record(use('t1', 10));
    // Wrong shape (a bad status) is corrupt too; a second one goes to a timestamped name.
    const bad = JSON.parse(readFileSync(file(), 'utf8'));
    bad.sessions[0].status = 'paused';
    writeFileSync(file(), JSON.stringify(bad));
    const again = SessionCatalog.open(stateDir, { onCorrupt: (info) => seen.push(info.movedTo ?? '') });
    expect(again.scopes()).toEqual([]);
    expect(seen[1]).toMatch(/sessions\.json\.\d+\.corrupt$/);
  });

  it('recomputes a key that disagrees with its fields (hand edits)', () => {
    SessionCatalog.open(stateDir).record(use('t1', 10));
    const edited = JSON.parse(readFileSync(file(), 'utf8'));
    edited.sessions[0].cwd = '/work/other';
    writeFileSync(file(), JSON.stringify(edited));
    const catalog = SessionCatalog.open(stateDir);
    expect(catalog.find(SCOPE, '/work/api', 'fp1')).toBeUndefined();
    expect(catalog.find(SCOPE, '/work/other', 'fp1')?.key).toBe(sessionKey(SCOPE, '/work/other', 'fp1'));
  });

  it('a failed write changes nothing in memory', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    mkdirSync(`${file()}.tmp`); // the temp file cannot be created
    expect(() => catalog.record(use('t2', 20))).toThrow();
    expect(() => catalog.archive(SCOPE, 't1')).toThrow();
    expect(catalog.forScope(SCOPE).map((e) => [e.threadId, e.status])).toEqual([['t1', 'active']]);
    rmSync(`${file()}.tmp`, { recursive: true });
    expect(SessionCatalog.open(stateDir).forScope(SCOPE)).toEqual(catalog.forScope(SCOPE));
  });
});
