import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import {
  LAST_USED_WRITE_SLACK_MS,
  MAX_SESSIONS_PER_SCOPE,
  SESSIONS_DIR,
  SessionCatalog,
  type SessionEntry,
  type SessionRecordInput,
  sessionFilePath,
  sessionKey,
  sessionsFileSchema,
  summarize,
} from '../../src/store/session-catalog.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-sessions-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const SCOPE = 'chat:oc_a';
/** SCOPE's file (or another scope's). */
const file = (scopeId = SCOPE) => sessionFilePath(stateDir, scopeId);
const sessionsDir = () => join(stateDir, SESSIONS_DIR);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
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
    expect(readdirSync(sessionsDir())).toEqual([]);
  });

  it('sets a corrupt scope file aside on first use: that scope starts empty, the others are untouched', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    catalog.record(use('b1', 10, { scopeId: 'chat:oc_b' }));
    writeFileSync(file(), '{"sessions": [');
    const seen: { path: string; movedTo: string | undefined; problem: string }[] = [];
    const onCorrupt = (info: (typeof seen)[number]) => seen.push(info);
    const reopened = SessionCatalog.open(stateDir, { onCorrupt });
    expect(reopened.forScope('chat:oc_b')).toHaveLength(1);
    expect(seen).toEqual([]); // nothing read SCOPE's file yet
    expect(reopened.forScope(SCOPE)).toEqual([]);
    expect(seen).toEqual([
      { path: file(), movedTo: `${file()}.corrupt`, problem: expect.stringMatching(/not valid JSON/) },
    ]);
    expect(readFileSync(`${file()}.corrupt`, 'utf8')).toBe('{"sessions": [');
    reopened.record(use('t2', 20));
    expect(
      SessionCatalog.open(stateDir)
        .forScope(SCOPE)
        .map((e) => e.threadId),
    ).toEqual(['t2']);

    // Wrong shape (a bad status) is corrupt too; a second one goes to a timestamped name.
    const bad = readJson(file());
    bad.sessions[0].status = 'paused';
    writeFileSync(file(), JSON.stringify(bad));
    expect(SessionCatalog.open(stateDir, { onCorrupt }).byThread(SCOPE, 't2')).toBeUndefined();
    expect(seen[1]!.movedTo).toMatch(/\.json\.\d+\.corrupt$/);

    // A file holding another scope (a hand copy) is corrupt for this one, and so is an entry of
    // another scope inside this scope's file.
    writeFileSync(file(), readFileSync(file('chat:oc_b')));
    expect(SessionCatalog.open(stateDir, { onCorrupt }).forScope(SCOPE)).toEqual([]);
    expect(seen[2]!.problem).toMatch(/holds scope "chat:oc_b", not "chat:oc_a"/);
    writeFileSync(file(), JSON.stringify({ ...readJson(file('chat:oc_b')), scopeId: SCOPE }));
    expect(SessionCatalog.open(stateDir, { onCorrupt }).forScope(SCOPE)).toEqual([]);
    expect(seen[3]!.problem).toMatch(/belong to the file's scopeId/);
    expect(existsSync(file())).toBe(false);
    expect(SessionCatalog.open(stateDir, { onCorrupt }).scopes()).toEqual(['chat:oc_b']);
    expect(seen).toHaveLength(4);
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

  it('keeps one 0600 file per scope, named by sha256(scopeId), and rewrites only the scope that changed', () => {
    const OTHER = 'topic:oc_b:omt_1';
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10, { summary: 'fix it' }));
    catalog.record(use('b1', 30, { scopeId: OTHER }));
    catalog.record(use('t2', 20));
    const stem = (scopeId: string) => createHash('sha256').update(scopeId).digest('hex').slice(0, 32);
    expect(file()).toBe(join(stateDir, 'sessions', `${stem(SCOPE)}.json`));
    expect(readdirSync(sessionsDir()).sort()).toEqual([`${stem(SCOPE)}.json`, `${stem(OTHER)}.json`].sort());
    expect(readJson(file())).toEqual({ scopeId: SCOPE, sessions: catalog.forScope(SCOPE) });
    expect(readJson(file(OTHER))).toEqual({ scopeId: OTHER, sessions: catalog.forScope(OTHER) });
    expect(sessionsFileSchema.safeParse(readJson(file(OTHER))).success).toBe(true);
    expect(existsSync(join(stateDir, 'sessions.json'))).toBe(false);
    if (process.platform !== 'win32') expect(statSync(sessionsDir()).mode & 0o777).toBe(0o700);
    // A change rewrites that scope's file only: the other one keeps the compact form written here
    // (the catalog writes indented JSON).
    const compact = JSON.stringify(readJson(file(OTHER)));
    writeFileSync(file(OTHER), compact);
    catalog.record(use('t3', 40));
    catalog.archive(SCOPE, 't1');
    expect(readJson(file()).sessions.map((e: SessionEntry) => [e.threadId, e.status])).toEqual([
      ['t3', 'active'],
      ['t2', 'active'],
      ['t1', 'archived'],
    ]);
    expect(readFileSync(file(OTHER), 'utf8')).toBe(compact);
    // Stray files in the directory (a temp file left by a kill, a quarantined file) are not scopes.
    writeFileSync(`${file()}.tmp`, '{');
    writeFileSync(join(sessionsDir(), `${stem('gone')}.json.corrupt`), '{');
    expect(SessionCatalog.open(stateDir).scopes().sort()).toEqual([SCOPE, OTHER]);
  });

  it('open reads no scope file: each is read on first use, then served from an LRU cache', () => {
    const catalog = SessionCatalog.open(stateDir);
    catalog.record(use('t1', 10));
    // 300 other scopes whose files are all corrupt: reading any of them would set it aside.
    for (let i = 0; i < 300; i++) writeFileSync(file(`chat:oc_${i}`), '{"not": "sessions"}');
    const seen: string[] = [];
    const reopened = SessionCatalog.open(stateDir, { onCorrupt: (info) => seen.push(info.path) });
    expect(reopened.forScope(SCOPE).map((e) => e.threadId)).toEqual(['t1']);
    expect(reopened.find(SCOPE, '/work/api', 'fp1')?.threadId).toBe('t1');
    reopened.record(use('t2', 20));
    expect(seen).toEqual([]);
    expect(readdirSync(sessionsDir()).filter((f) => f.endsWith('.corrupt'))).toEqual([]);
    // Only the scope asked about is read.
    expect(reopened.forScope('chat:oc_7')).toEqual([]);
    expect(seen).toEqual([file('chat:oc_7')]);
    expect(readdirSync(sessionsDir()).filter((f) => f.endsWith('.corrupt'))).toHaveLength(1);

    // Once read, a scope is served from memory (a change on disk behind its back is not seen) …
    const small = SessionCatalog.open(stateDir, { cacheSize: 2 });
    expect(small.forScope(SCOPE)).toHaveLength(2);
    const saved = readFileSync(file());
    rmSync(file());
    expect(small.forScope(SCOPE)).toHaveLength(2);
    // … until it leaves the cache (here: two other scopes used since), then it is read again.
    small.forScope('chat:x');
    small.forScope('chat:y');
    expect(small.forScope(SCOPE)).toEqual([]);
    writeFileSync(file(), saved);
    expect(SessionCatalog.open(stateDir).forScope(SCOPE)).toHaveLength(2);
  });

  it('a thread used again within 60 s with nothing else changed is not written; a kill loses at most that', () => {
    const catalog = SessionCatalog.open(stateDir);
    const onDisk = (threadId: string) =>
      (readJson(file()).sessions as SessionEntry[]).find((e) => e.threadId === threadId);
    const t0 = 1_000_000;
    catalog.record(use('t1', t0, { summary: 'first' }));
    // Same thread, same directory and policy, a summary it ignores (it has one): memory only.
    const again = catalog.record(use('t1', t0 + LAST_USED_WRITE_SLACK_MS - 1, { summary: 'other' }));
    expect(again).toMatchObject({ lastUsedAt: t0 + LAST_USED_WRITE_SLACK_MS - 1, summary: 'first' });
    expect(catalog.byThread(SCOPE, 't1')!.lastUsedAt).toBe(t0 + LAST_USED_WRITE_SLACK_MS - 1);
    expect(onDisk('t1')!.lastUsedAt).toBe(t0);
    // What a kill now would leave: the thread, resumable as before, with the older lastUsedAt.
    expect(SessionCatalog.open(stateDir).find(SCOPE, '/work/api', 'fp1')).toMatchObject({
      threadId: 't1',
      lastUsedAt: t0,
    });
    // 60 s past what the file says (not past the last skipped call): written.
    catalog.record(use('t1', t0 + LAST_USED_WRITE_SLACK_MS));
    expect(onDisk('t1')!.lastUsedAt).toBe(t0 + LAST_USED_WRITE_SLACK_MS);

    // Anything else is written at once, however soon.
    const t1 = t0 + LAST_USED_WRITE_SLACK_MS;
    catalog.record(use('t1', t1 + 1, { cwd: '/work/web' }));
    expect(onDisk('t1')).toMatchObject({ cwd: '/work/web', lastUsedAt: t1 + 1 });
    catalog.record(use('t1', t1 + 2, { cwd: '/work/web', policyFingerprint: 'fp2' }));
    expect(onDisk('t1')).toMatchObject({
      policyFingerprint: 'fp2',
      key: sessionKey(SCOPE, '/work/web', 'fp2'),
    });
    catalog.record(use('t2', t1 + 3)); // a new thread
    expect(onDisk('t2')).toMatchObject({ lastUsedAt: t1 + 3, status: 'active' });
    catalog.record(use('t2', t1 + 4, { summary: 'its first summary' }));
    expect(onDisk('t2')).toMatchObject({ summary: 'its first summary', lastUsedAt: t1 + 4 });
    catalog.archive(SCOPE, 't2');
    catalog.record(use('t2', t1 + 5)); // active again
    expect(onDisk('t2')).toMatchObject({ status: 'active', lastUsedAt: t1 + 5 });

    // The next write of the scope carries a skipped move along.
    catalog.record(use('t1', t1 + 10, { cwd: '/work/web', policyFingerprint: 'fp2' }));
    expect(onDisk('t1')!.lastUsedAt).toBe(t1 + 2);
    catalog.record(use('t3', t1 + 11));
    expect(onDisk('t1')!.lastUsedAt).toBe(t1 + 10);
    expect(SessionCatalog.open(stateDir).forScope(SCOPE)).toEqual(catalog.forScope(SCOPE));
  });

  it('a scope that leaves the cache with a skipped move is written then', () => {
    const catalog = SessionCatalog.open(stateDir, { cacheSize: 1 });
    catalog.record(use('t1', 1000));
    catalog.record(use('t1', 2000));
    expect(readJson(file()).sessions[0].lastUsedAt).toBe(1000);
    catalog.forScope('chat:other'); // SCOPE is evicted
    expect(readJson(file()).sessions[0].lastUsedAt).toBe(2000);
    expect(catalog.byThread(SCOPE, 't1')!.lastUsedAt).toBe(2000);
  });

  it('a new thread is always on disk when record returns, in any scope, at any pace', () => {
    const catalog = SessionCatalog.open(stateDir, { cacheSize: 3 });
    for (let i = 0; i < 30; i++) {
      const scopeId = `chat:oc_${i % 7}`;
      catalog.record(use(`t${i}`, 5000, { scopeId }));
      expect(SessionCatalog.open(stateDir).byThread(scopeId, `t${i}`), `t${i}`).toMatchObject({
        lastUsedAt: 5000,
        status: 'active',
      });
    }
    expect(SessionCatalog.open(stateDir).scopes()).toHaveLength(7);
  });

  describe('migration from one sessions.json', () => {
    const legacyFile = () => join(stateDir, 'sessions.json');
    const entry = (scopeId: string, threadId: string, at: number, extra: Partial<SessionEntry> = {}) => ({
      key: sessionKey(scopeId, '/work/api', 'fp1'),
      scopeId,
      cwd: '/work/api',
      policyFingerprint: 'fp1',
      threadId,
      createdAt: at,
      lastUsedAt: at,
      status: 'active' as const,
      ...extra,
    });
    const legacy = {
      sessions: [
        entry(SCOPE, 't2', 20, { summary: 'fix the bug' }),
        entry('chat:oc_b', 'b1', 15),
        entry(SCOPE, 't1', 10, { status: 'archived' }),
      ],
    };

    it('splits it into per-scope files and renames it sessions.json.migrated', () => {
      writeFileSync(legacyFile(), JSON.stringify(legacy));
      const catalog = SessionCatalog.open(stateDir);
      expect(existsSync(legacyFile())).toBe(false);
      expect(readJson(`${legacyFile()}.migrated`)).toEqual(legacy);
      expect(readdirSync(sessionsDir()).sort()).toEqual(
        [file(), file('chat:oc_b')].map((p) => p.slice(sessionsDir().length + 1)).sort(),
      );
      expect(readJson(file())).toEqual({
        scopeId: SCOPE,
        sessions: [legacy.sessions[0], legacy.sessions[2]],
      });
      expect(readJson(file('chat:oc_b'))).toEqual({ scopeId: 'chat:oc_b', sessions: [legacy.sessions[1]] });
      expect(catalog.forScope(SCOPE).map((e) => [e.threadId, e.status])).toEqual([
        ['t2', 'active'],
        ['t1', 'archived'],
      ]);
      expect(catalog.find('chat:oc_b', '/work/api', 'fp1')?.threadId).toBe('b1');
      expect(catalog.scopes().sort()).toEqual([SCOPE, 'chat:oc_b']);
      // Nothing left to migrate: a second open changes nothing.
      catalog.record(use('t3', 30));
      expect(
        SessionCatalog.open(stateDir)
          .forScope(SCOPE)
          .map((e) => e.threadId),
      ).toEqual(['t3', 't2', 't1']);
    });

    it('a migration cut short is redone at the next open, keeping what is in the scope files', () => {
      writeFileSync(legacyFile(), JSON.stringify(legacy));
      SessionCatalog.open(stateDir).record(use('t3', 30));
      // As if the old file had not been renamed yet (or came back with an older version).
      writeFileSync(legacyFile(), JSON.stringify(legacy));
      const catalog = SessionCatalog.open(stateDir);
      expect(catalog.forScope(SCOPE).map((e) => e.threadId)).toEqual(['t3', 't2', 't1']);
      expect(catalog.forScope('chat:oc_b').map((e) => e.threadId)).toEqual(['b1']);
      expect(existsSync(legacyFile())).toBe(false);
    });

    it('a corrupt old file is set aside and reported at open; the catalog starts empty', () => {
      writeFileSync(legacyFile(), '{"sessions": [');
      const seen: string[] = [];
      const catalog = SessionCatalog.open(stateDir, { onCorrupt: (info) => seen.push(info.problem) });
      expect(seen[0]).toMatch(/not valid JSON/);
      expect(readFileSync(`${legacyFile()}.corrupt`, 'utf8')).toBe('{"sessions": [');
      expect(catalog.scopes()).toEqual([]);
      expect(readdirSync(sessionsDir())).toEqual([]);
    });
  });
});
