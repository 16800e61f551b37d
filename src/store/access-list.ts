import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LarkcodeError } from '../core/errors.js';
import { readStateFile, writeStateFile } from './json-state-file.js';

const FILE = 'access.json';

/** Feishu open ids (people) and chat ids; the same shape the config's allowlist accepts. */
export const OPEN_ID_PATTERN = /^ou_\w{1,100}$/;
export const CHAT_ID_PATTERN = /^oc_\w{1,100}$/;

export type AccessKind = 'admin' | 'user' | 'group';
export type AccessRole = 'admin' | 'user';

const OPEN_ID = 'an open id (ou_…)';
const CHAT_ID = 'a chat id (oc_…)';

const grantSchema = (pattern: RegExp, what: string) =>
  z.strictObject({
    id: z.string().regex(pattern, { message: `must be ${what}` }),
    /** Who granted it: an open id, or e.g. "cli" for a grant made on the machine itself. */
    addedBy: z.string().min(1).max(200),
    addedAt: z.number().int().nonnegative(),
  });

const personGrant = grantSchema(OPEN_ID_PATTERN, OPEN_ID);
const groupGrant = grantSchema(CHAT_ID_PATTERN, CHAT_ID);

const grantList = (grant: typeof personGrant) =>
  z.array(grant).refine((list) => new Set(list.map((g) => g.id)).size === list.length, {
    message: 'lists an id twice',
  });

/** `<stateDir>/access.json`. Strict: a typo in a hand-edited grant must fail loudly, not vanish. */
export const accessFileSchema = z.strictObject({
  admins: grantList(personGrant),
  users: grantList(personGrant),
  groups: grantList(groupGrant),
});

export type AccessFile = z.infer<typeof accessFileSchema>;
export type AccessGrant = AccessFile['admins'][number];

const LIST_OF: Record<AccessKind, keyof AccessFile> = { admin: 'admins', user: 'users', group: 'groups' };

/**
 * People and group chats granted access at runtime (/invite, /remove), on top of the config's
 * owner and allowlist, in `<stateDir>/access.json`, rewritten atomically and fsynced on every
 * change: a grant or a revocation the bot confirmed must survive a crash.
 *
 * The three lists are independent: an admin who is also listed as a user stays an admin until
 * removed from `admins` (`roleOf` answers the higher role). A corrupt file stops `open` with a
 * LarkcodeError: guessing would either lock people out or, worse, let a write drop the grants.
 *
 * Single writer: one instance per state directory. All methods are synchronous; results are copies.
 */
export class AccessList {
  readonly #path: string;
  #file: AccessFile;

  private constructor(path: string, file: AccessFile) {
    this.#path = path;
    this.#file = file;
  }

  static open(stateDir: string): AccessList {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, FILE);
    const read = readStateFile(path, accessFileSchema);
    if (read.kind === 'corrupt') {
      throw new LarkcodeError(
        'config',
        `access list ${path} is corrupt:\n${read.problem}\n` +
          `fix it, or delete it to revoke every runtime grant (the config's owner and allowlist still apply)`,
      );
    }
    return new AccessList(path, read.kind === 'ok' ? read.value : { admins: [], users: [], groups: [] });
  }

  roleOf(openId: string): AccessRole | undefined {
    if (this.#has('admins', openId)) return 'admin';
    if (this.#has('users', openId)) return 'user';
    return undefined;
  }

  isGroupAllowed(chatId: string): boolean {
    return this.#has('groups', chatId);
  }

  /** Grant; false (and nothing written) when `id` already has this grant. */
  add(kind: AccessKind, id: string, by: string, at: number): boolean {
    const listName = listOf(kind);
    const grant = (kind === 'group' ? groupGrant : personGrant).safeParse({ id, addedBy: by, addedAt: at });
    if (!grant.success) {
      const badId = grant.error.issues.some((issue) => issue.path[0] === 'id');
      throw new LarkcodeError(
        'config',
        badId
          ? `cannot add ${kind} "${String(id).slice(0, 80)}": expected ${kind === 'group' ? CHAT_ID : OPEN_ID}`
          : `cannot add ${kind} ${id}: ${z.prettifyError(grant.error)}`,
      );
    }
    if (this.#has(listName, id)) return false;
    this.#commit({ ...this.#file, [listName]: [...this.#file[listName], grant.data] });
    return true;
  }

  /** Revoke; false when `id` did not have this grant. */
  remove(kind: AccessKind, id: string): boolean {
    const listName = listOf(kind);
    if (!this.#has(listName, id)) return false;
    this.#commit({ ...this.#file, [listName]: this.#file[listName].filter((g) => g.id !== id) });
    return true;
  }

  /** Every grant, in the order granted. */
  list(): AccessFile {
    return {
      admins: this.#file.admins.map((g) => ({ ...g })),
      users: this.#file.users.map((g) => ({ ...g })),
      groups: this.#file.groups.map((g) => ({ ...g })),
    };
  }

  #has(listName: keyof AccessFile, id: string): boolean {
    return this.#file[listName].some((g) => g.id === id);
  }

  /** Memory changes only once the file is on disk, so a failed write grants or revokes nothing. */
  #commit(next: AccessFile): void {
    writeStateFile(this.#path, next);
    this.#file = next;
  }
}

function listOf(kind: AccessKind): keyof AccessFile {
  const name = Object.hasOwn(LIST_OF, kind) ? LIST_OF[kind] : undefined;
  // Callers pass command text through; a bad kind is a bug, not a user error.
  if (name === undefined) throw new LarkcodeError('internal', `unknown access kind ${String(kind)}`);
  return name;
}
