/**
 * The kill -9 torture of the small policy stores (sessions, workspace aliases, access list): the
 * operations the writer child performs, shared with the checking parent, which replays the
 * acknowledged ones on a shadow copy of the stores to know what must be on disk.
 */
import { join } from 'node:path';
import { LarkcodeError } from '../../src/core/errors.js';
import { type AccessKind, AccessList } from '../../src/store/access-list.js';
import { SessionCatalog } from '../../src/store/session-catalog.js';
import { WorkspaceAliases } from '../../src/store/workspace-aliases.js';

export type StoreOp =
  | {
      op: 'session.record';
      scopeId: string;
      cwd: string;
      policyFingerprint: string;
      threadId: string;
      at: number;
      summary?: string;
    }
  | { op: 'session.archive'; scopeId: string; threadId: string }
  | { op: 'alias.add'; alias: string; dir: string; replace: boolean }
  | { op: 'alias.remove'; alias: string }
  | { op: 'access.add'; kind: AccessKind; id: string; by: string; at: number }
  | { op: 'access.remove'; kind: AccessKind; id: string };

/** One scope goes past the 50-entry cap, so trimming happens under fire too. */
export const SESSION_SCOPES = ['chat:oc_s1', 'topic:oc_s2:omt_1', 'chat:oc_big'];
export const WORKSPACE_DIRS = ['api', 'web', 'docs', 'infra'];
const ALIASES = ['api', 'web', 'docs', 'infra', 'a-1', 'b_2', 'c', 'dd'];
const SUMMARIES = ['fix the login bug', 'two\nlines', `long ${'x'.repeat(200)}`, 'emoji 😀 ok', '  '];

export interface Stores {
  catalog: SessionCatalog;
  aliases: WorkspaceAliases;
  access: AccessList;
}

/** The session catalog of `stateDir`; a corrupt file (never expected here) throws. */
export function openCatalog(stateDir: string): SessionCatalog {
  return SessionCatalog.open(stateDir, {
    onCorrupt: ({ path, problem }) => {
      throw new Error(`${path} was corrupt: ${problem}`);
    },
  });
}

export function openStores(stateDir: string): Stores {
  return {
    catalog: openCatalog(stateDir),
    aliases: WorkspaceAliases.open(stateDir),
    access: AccessList.open(stateDir),
  };
}

/** A random operation; `seq` increases across the whole test, so times only move forward. */
export function randomOp(seq: number, random: () => number = Math.random): StoreOp {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const roll = random();
  if (roll < 0.35) {
    const scopeId = pick(SESSION_SCOPES);
    const threads = scopeId === 'chat:oc_big' ? 70 : 6;
    const op: StoreOp = {
      op: 'session.record',
      scopeId,
      cwd: pick(['/w/a', '/w/b']),
      policyFingerprint: pick(['fp1', 'fp2']),
      threadId: `th_${Math.floor(random() * threads)}`,
      at: seq,
    };
    if (random() < 0.5) op.summary = pick(SUMMARIES);
    return op;
  }
  if (roll < 0.45)
    return { op: 'session.archive', scopeId: pick(SESSION_SCOPES), threadId: `th_${pick([0, 1, 2])}` };
  if (roll < 0.6)
    return { op: 'alias.add', alias: pick(ALIASES), dir: pick(WORKSPACE_DIRS), replace: random() < 0.5 };
  if (roll < 0.7) return { op: 'alias.remove', alias: pick(ALIASES) };
  const kind = pick<AccessKind>(['admin', 'user', 'group']);
  const id = kind === 'group' ? `oc_g${Math.floor(random() * 5)}` : `ou_p${Math.floor(random() * 6)}`;
  if (roll < 0.88) return { op: 'access.add', kind, id, by: `ou_p${seq % 6}`, at: seq };
  return { op: 'access.remove', kind, id };
}

/** Apply one operation; a refusal the store makes on purpose (LarkcodeError) is an outcome, not a failure. */
export function applyOp(stores: Stores, op: StoreOp, workspaceRoot: string): string {
  try {
    switch (op.op) {
      case 'session.record': {
        const { op: _, ...input } = op;
        return `recorded ${stores.catalog.record(input).threadId}`;
      }
      case 'session.archive':
        return String(stores.catalog.archive(op.scopeId, op.threadId));
      case 'alias.add':
        return stores.aliases.add(op.alias, join(workspaceRoot, op.dir), { replace: op.replace }).path;
      case 'alias.remove':
        return String(stores.aliases.remove(op.alias));
      case 'access.add':
        return String(stores.access.add(op.kind, op.id, op.by, op.at));
      case 'access.remove':
        return String(stores.access.remove(op.kind, op.id));
    }
  } catch (error) {
    if (error instanceof LarkcodeError) return `refused: ${error.message}`;
    throw error;
  }
}

/** Everything the stores answer, in a comparable form. */
export function snapshot(stores: Stores) {
  return {
    sessions: Object.fromEntries(
      SESSION_SCOPES.map((scopeId) => [scopeId, stores.catalog.forScope(scopeId)]),
    ),
    scopes: stores.catalog.scopes().sort(),
    aliases: stores.aliases.list(),
    access: stores.access.list(),
  };
}
