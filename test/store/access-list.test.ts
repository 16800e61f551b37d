import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import { type AccessKind, AccessList, accessFileSchema } from '../../src/store/access-list.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-access-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const file = () => join(stateDir, 'access.json');
const OWNER = 'ou_owner';

describe('AccessList', () => {
  it('grants and revokes people and groups, across reopens, in a 0600 file', () => {
    const access = AccessList.open(stateDir);
    expect(access.add('admin', 'ou_alice', OWNER, 10)).toBe(true);
    expect(access.add('user', 'ou_bob', 'ou_alice', 20)).toBe(true);
    expect(access.add('group', 'oc_team', 'ou_alice', 30)).toBe(true);
    const reopened = AccessList.open(stateDir);
    expect(reopened.roleOf('ou_alice')).toBe('admin');
    expect(reopened.roleOf('ou_bob')).toBe('user');
    expect(reopened.roleOf('ou_carol')).toBeUndefined();
    expect(reopened.isGroupAllowed('oc_team')).toBe(true);
    expect(reopened.isGroupAllowed('oc_other')).toBe(false);
    expect(reopened.list()).toEqual({
      admins: [{ id: 'ou_alice', addedBy: OWNER, addedAt: 10 }],
      users: [{ id: 'ou_bob', addedBy: 'ou_alice', addedAt: 20 }],
      groups: [{ id: 'oc_team', addedBy: 'ou_alice', addedAt: 30 }],
    });
    expect(reopened.remove('user', 'ou_bob')).toBe(true);
    expect(reopened.remove('group', 'oc_team')).toBe(true);
    const after = AccessList.open(stateDir);
    expect(after.roleOf('ou_bob')).toBeUndefined();
    expect(after.isGroupAllowed('oc_team')).toBe(false);
    expect(accessFileSchema.safeParse(JSON.parse(readFileSync(file(), 'utf8'))).success).toBe(true);
    if (process.platform !== 'win32') expect(statSync(file()).mode & 0o777).toBe(0o600);
  });

  it('add is false for an existing grant, remove false for a missing one; neither writes', () => {
    const access = AccessList.open(stateDir);
    access.add('user', 'ou_bob', OWNER, 10);
    const before = statSync(file()).ino;
    expect(access.add('user', 'ou_bob', 'ou_someone', 99)).toBe(false);
    expect(access.remove('user', 'ou_carol')).toBe(false);
    expect(access.remove('admin', 'ou_bob')).toBe(false);
    expect(statSync(file()).ino).toBe(before); // a rewrite would be a new inode
    expect(access.list().users).toEqual([{ id: 'ou_bob', addedBy: OWNER, addedAt: 10 }]);
  });

  it('the lists are independent; roleOf answers the higher role', () => {
    const access = AccessList.open(stateDir);
    access.add('user', 'ou_x', OWNER, 1);
    access.add('admin', 'ou_x', OWNER, 2);
    expect(access.roleOf('ou_x')).toBe('admin');
    access.remove('admin', 'ou_x');
    expect(access.roleOf('ou_x')).toBe('user');
    // A person id is never a group, and a chat id never a person.
    expect(access.isGroupAllowed('ou_x')).toBe(false);
  });

  it('refuses malformed ids with a message that says what was expected', () => {
    const access = AccessList.open(stateDir);
    const cases: [AccessKind, string, RegExp][] = [
      ['admin', 'oc_team', /cannot add admin "oc_team": expected an open id \(ou_…\)/],
      ['user', 'ou_', /expected an open id/],
      ['user', 'ou_a b', /expected an open id/],
      ['user', '', /expected an open id/],
      ['group', 'ou_bob', /cannot add group "ou_bob": expected a chat id \(oc_…\)/],
      ['group', `oc_${'x'.repeat(101)}`, /expected a chat id/],
    ];
    for (const [kind, id, message] of cases) {
      let thrown: unknown;
      try {
        access.add(kind, id, OWNER, 1);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, `${kind} ${id}`).toBeInstanceOf(LarkcodeError);
      expect((thrown as Error).message).toMatch(message);
    }
    expect(() => access.add('user', 'ou_ok', '', 1)).toThrow(/addedBy/);
    expect(() => access.add('user', 'ou_ok', OWNER, -5)).toThrow(LarkcodeError);
    expect(() => access.add('owner' as AccessKind, 'ou_ok', OWNER, 1)).toThrow(/unknown access kind/);
    expect(() => access.add('toString' as AccessKind, 'ou_ok', OWNER, 1)).toThrow(/unknown access kind/);
    expect(access.list()).toEqual({ admins: [], users: [], groups: [] });
  });

  it('hands out copies', () => {
    const access = AccessList.open(stateDir);
    access.add('admin', 'ou_a', OWNER, 1);
    const listed = access.list();
    listed.admins.push({ id: 'ou_evil', addedBy: 'ou_evil', addedAt: 1 });
    listed.admins[0]!.id = 'ou_changed';
    expect(access.roleOf('ou_evil')).toBeUndefined();
    expect(access.roleOf('ou_a')).toBe('admin');
  });

  it('a corrupt file stops open (never silently drops grants) and is left alone', () => {
    mkdirSync(stateDir, { recursive: true });
    const dup = { id: 'ou_a', addedBy: OWNER, addedAt: 1 };
    for (const text of [
      '{"admins": [',
      JSON.stringify({ admins: [], users: [] }),
      JSON.stringify({ admins: [{ id: 'oc_chat', addedBy: OWNER, addedAt: 1 }], users: [], groups: [] }),
      JSON.stringify({ admins: [dup, dup], users: [], groups: [] }),
      JSON.stringify({ admin: [], admins: [], users: [], groups: [] }),
    ]) {
      writeFileSync(file(), text);
      let thrown: unknown;
      try {
        AccessList.open(stateDir);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(LarkcodeError);
      expect((thrown as LarkcodeError).kind).toBe('config');
      expect((thrown as Error).message).toContain(`access list ${file()} is corrupt`);
      expect(readFileSync(file(), 'utf8')).toBe(text);
    }
  });

  it('a failed write grants and revokes nothing', () => {
    const access = AccessList.open(stateDir);
    access.add('user', 'ou_bob', OWNER, 1);
    mkdirSync(`${file()}.tmp`);
    expect(() => access.add('admin', 'ou_eve', OWNER, 2)).toThrow();
    expect(() => access.remove('user', 'ou_bob')).toThrow();
    expect(access.roleOf('ou_eve')).toBeUndefined();
    expect(access.roleOf('ou_bob')).toBe('user');
  });
});
