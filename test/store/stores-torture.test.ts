/**
 * kill -9 at random moments while a child process changes the session catalog, the workspace
 * aliases and the access list; after each kill every file parses (zod) and holds every change the
 * child acknowledged.
 *
 * The parent replays each acknowledged operation on a shadow set of stores in another directory.
 * The change in flight when the kill landed (`do` printed, no `ack`) may or may not have reached
 * the disk, so the disk must equal the shadow either before or after that one change — never
 * anything else (a lost acknowledged change, a half-applied one, or an unparseable file).
 *
 * One change is deliberately not written at once: a session used again within a minute, nothing
 * else changed, only moves its `lastUsedAt` in memory (SessionCatalog.record), so a kill may lose
 * it. The check tolerates exactly that: the shadow's catalog is reopened from its own files at each
 * kill, as the writer is restarted from its files, so both skip the same writes; the disk must equal
 * the shadow's *files*, and may differ from the shadow's memory only in such lastUsedAt moves.
 *
 * As with torture.test.ts, SIGKILL loses the process, not the page cache: this proves the write
 * protocol (temp + rename, memory committed only after the write), not fsync itself.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { accessFileSchema } from '../../src/store/access-list.js';
import {
  LAST_USED_WRITE_SLACK_MS,
  SESSIONS_DIR,
  type SessionEntry,
  sessionFilePath,
  sessionsFileSchema,
} from '../../src/store/session-catalog.js';
import { workspacesFileSchema } from '../../src/store/workspace-aliases.js';
import { runAndKill } from './kill-writer.js';
import {
  applyOp,
  openCatalog,
  openStores,
  type StoreOp,
  type Stores,
  snapshot,
  WORKSPACE_DIRS,
} from './stores-torture-ops.js';

const ITERATIONS = 15;
const WRITER = join(import.meta.dirname, 'stores-torture-writer.ts');

interface Run {
  acked: StoreOp[];
  /** Started (`do` printed) but not acknowledged when the kill landed. */
  inFlight: StoreOp | undefined;
}

/** Start the writer, SIGKILL it after `killAfterMs`, and read its `do <op>` / `ack` protocol. */
async function runAndKillWriter(
  stateDir: string,
  root: string,
  seqBase: number,
  killAfterMs: number,
): Promise<Run> {
  const lines = await runAndKill(WRITER, [stateDir, root, String(seqBase)], killAfterMs);
  const acked: StoreOp[] = [];
  let inFlight: StoreOp | undefined;
  for (const line of lines) {
    if (line.startsWith('do ')) {
      if (inFlight) throw new Error(`two changes without an ack: ${line}`);
      inFlight = JSON.parse(line.slice(3)) as StoreOp;
    } else if (line === 'ack') {
      if (!inFlight) throw new Error('ack without a change');
      acked.push(inFlight);
      inFlight = undefined;
    }
  }
  return { acked, inFlight };
}

/** Each file on disk, parsed by its store's schema (a missing file is fine: nothing written yet). */
function expectFilesParse(stateDir: string): void {
  const files: [string, z.ZodType][] = [
    ['workspaces.json', workspacesFileSchema],
    ['access.json', accessFileSchema],
  ];
  const present = readdirSync(stateDir);
  expect(present.filter((f) => f.endsWith('.corrupt'))).toEqual([]);
  for (const [name, schema] of files) {
    if (!present.includes(name)) continue;
    const parsed = schema.safeParse(JSON.parse(readFileSync(join(stateDir, name), 'utf8')));
    expect(parsed.success, `${name}: ${parsed.error?.message}`).toBe(true);
  }
  // Sessions: one file per scope, named after the scope it holds (a `.tmp` left by the kill is fine).
  expect(present).not.toContain('sessions.json');
  const sessionsDir = join(stateDir, SESSIONS_DIR);
  if (!existsSync(sessionsDir)) return;
  const names = readdirSync(sessionsDir);
  expect(names.filter((f) => f.endsWith('.corrupt'))).toEqual([]);
  for (const name of names.filter((f) => f.endsWith('.json'))) {
    const parsed = sessionsFileSchema.safeParse(JSON.parse(readFileSync(join(sessionsDir, name), 'utf8')));
    expect(parsed.success, `sessions/${name}: ${parsed.error?.message}`).toBe(true);
    expect(join(sessionsDir, name)).toBe(sessionFilePath(stateDir, parsed.data!.scopeId));
  }
}

/** What the shadow's files hold: its catalog reopened from disk (the other stores write every change). */
function onDisk(shadow: Stores, shadowDir: string) {
  return snapshot({ ...shadow, catalog: openCatalog(shadowDir) });
}

/**
 * The disk against everything acknowledged (the shadow's memory): equal, except that a session's
 * `lastUsedAt` may lag by less than LAST_USED_WRITE_SLACK_MS (a move SessionCatalog.record skips).
 */
function expectWithinSlack(actual: ReturnType<typeof snapshot>, acked: ReturnType<typeof snapshot>): void {
  const lagOf = (sessions: Record<string, SessionEntry[]>) =>
    Object.values(sessions)
      .flat()
      .map((e) => ({ ...e, lastUsedAt: 0, at: e.lastUsedAt }))
      .sort((a, b) => (a.scopeId + a.threadId < b.scopeId + b.threadId ? -1 : 1));
  const [disk, memory] = [lagOf(actual.sessions), lagOf(acked.sessions)];
  expect({ ...actual, sessions: disk.map(({ at: _, ...e }) => e) }).toEqual({
    ...acked,
    sessions: memory.map(({ at: _, ...e }) => e),
  });
  disk.forEach((e, i) => {
    const lag = memory[i]!.at - e.at;
    expect(lag, `${e.scopeId} ${e.threadId}`).toBeGreaterThanOrEqual(0);
    expect(lag, `${e.scopeId} ${e.threadId}`).toBeLessThan(LAST_USED_WRITE_SLACK_MS);
  });
}

/** Independent of the shadow: the effect of the last acknowledged change is visible. */
function expectEffect(stores: Stores, op: StoreOp, outcome: string, root: string): void {
  switch (op.op) {
    case 'session.record': {
      const entry = stores.catalog.byThread(op.scopeId, op.threadId);
      expect(entry).toMatchObject({ cwd: op.cwd, policyFingerprint: op.policyFingerprint, status: 'active' });
      // op.at, or an older time if this use only moved lastUsedAt (SessionCatalog.record).
      expect(entry!.lastUsedAt).toBeLessThanOrEqual(op.at);
      expect(entry!.lastUsedAt).toBeGreaterThan(op.at - LAST_USED_WRITE_SLACK_MS);
      break;
    }
    case 'session.archive':
      if (outcome === 'true')
        expect(stores.catalog.byThread(op.scopeId, op.threadId)?.status).toBe('archived');
      break;
    case 'alias.add':
      if (!outcome.startsWith('refused')) expect(stores.aliases.get(op.alias)).toBe(join(root, op.dir));
      break;
    case 'alias.remove':
      expect(stores.aliases.get(op.alias)).toBeUndefined();
      break;
    case 'access.add':
      if (op.kind === 'group') expect(stores.access.isGroupAllowed(op.id)).toBe(true);
      else if (op.kind === 'admin') expect(stores.access.roleOf(op.id)).toBe('admin');
      else expect(stores.access.roleOf(op.id)).toBeDefined();
      break;
    case 'access.remove': {
      const list = stores.access.list()[`${op.kind}s` as 'admins' | 'users' | 'groups'];
      expect(list.some((g) => g.id === op.id)).toBe(false);
      break;
    }
  }
}

describe('kill -9 torture: session catalog, workspace aliases, access list', () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'larkcode-stores-torture-')));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it(`keeps every acknowledged change across ${ITERATIONS} SIGKILLs`, { timeout: 60_000 }, async () => {
    const stateDir = join(base, 'state');
    const root = join(base, 'workspaces');
    for (const dir of WORKSPACE_DIRS) mkdirSync(join(root, dir), { recursive: true });
    const shadowDir = join(base, 'shadow');
    let shadow = openStores(shadowDir);
    let acks = 0;
    let inFlightLanded = 0;
    const started = performance.now();

    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      // The writer starts from its files; so does the shadow's catalog (see the header).
      shadow = { ...shadow, catalog: openCatalog(shadowDir) };
      const killAfter = 10 + Math.floor(Math.random() * 140);
      const { acked, inFlight } = await runAndKillWriter(
        stateDir,
        root,
        (iteration + 1) * 1_000_000,
        killAfter,
      );
      let lastOutcome = '';
      for (const op of acked) lastOutcome = applyOp(shadow, op, root);
      acks += acked.length;

      expectFilesParse(stateDir);
      const disk = openStores(stateDir); // as at boot: every file through its schema
      const expected = onDisk(shadow, shadowDir);
      const actual = snapshot(disk);
      if (inFlight && !isDeepStrictEqual(actual, expected)) {
        // The change in flight reached the disk before the kill: then it must be exactly that change.
        applyOp(shadow, inFlight, root);
        inFlightLanded++;
        expect(actual, `after kill ${iteration}, with ${JSON.stringify(inFlight)}`).toEqual(
          onDisk(shadow, shadowDir),
        );
      } else {
        expect(actual, `after kill ${iteration}`).toEqual(expected);
        const last = acked.at(-1);
        if (last) expectEffect(disk, last, lastOutcome, root);
      }
      expectWithinSlack(actual, snapshot(shadow));
    }

    const seconds = (performance.now() - started) / 1000;
    console.log(
      `stores torture: ${ITERATIONS} kills in ${seconds.toFixed(1)} s; ${acks} acknowledged changes; ` +
        `the change in flight had landed ${inFlightLanded} time(s)`,
    );
    expect(acks).toBeGreaterThan(ITERATIONS); // the writer really got work done
    expect(snapshot(shadow).sessions['chat:oc_big']!.length).toBeGreaterThan(0);
  });
});
