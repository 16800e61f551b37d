import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import { WorkspaceAliases, workspacesFileSchema } from '../../src/store/workspace-aliases.js';

let root: string;
let stateDir: string;
let api: string;
let web: string;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'larkcode-ws-')));
  stateDir = join(root, 'state');
  api = join(root, 'api');
  web = join(root, 'web');
  mkdirSync(api);
  mkdirSync(web);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const file = () => join(stateDir, 'workspaces.json');

/** The LarkcodeError `fn` throws (fails the test when it throws nothing or something else). */
function errorOf(fn: () => unknown): LarkcodeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LarkcodeError);
    return error as LarkcodeError;
  }
  throw new Error('expected a LarkcodeError');
}

describe('WorkspaceAliases', () => {
  it('adds, lists sorted, gets, removes — across reopens, in a 0600 file', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    expect(aliases.add('web', web)).toEqual({ alias: 'web', path: web });
    aliases.add('api', api);
    const reopened = WorkspaceAliases.open(stateDir);
    expect(reopened.list()).toEqual([
      { alias: 'api', path: api },
      { alias: 'web', path: web },
    ]);
    expect(reopened.get('api')).toBe(api);
    expect(reopened.get('nope')).toBeUndefined();
    expect(reopened.remove('api')).toBe(true);
    expect(reopened.remove('api')).toBe(false);
    expect(WorkspaceAliases.open(stateDir).list()).toEqual([{ alias: 'web', path: web }]);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({ aliases: { web } });
    expect(workspacesFileSchema.safeParse(JSON.parse(readFileSync(file(), 'utf8'))).success).toBe(true);
    if (process.platform !== 'win32') expect(statSync(file()).mode & 0o777).toBe(0o600);
  });

  it('takes names in any case and stores them lower-case', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    expect(aliases.add(' My-API_2 ', api).alias).toBe('my-api_2');
    expect(aliases.get('MY-api_2')).toBe(api);
    expect(aliases.remove('MY-API_2')).toBe(true);
  });

  it('refuses invalid names with a message that says what is valid', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    for (const bad of ['', '-api', '_api', 'a'.repeat(33), 'my api', 'ünï', 'a/b', '..']) {
      const error = errorOf(() => aliases.add(bad, api));
      expect(error.kind).toBe('workspace');
      expect(error.message).toMatch(/not a valid alias: use 1–32 letters, digits/);
    }
    expect(aliases.add('a'.repeat(32), api).alias).toHaveLength(32);
    expect(aliases.add('0', api).alias).toBe('0');
  });

  it('refuses to re-point an existing alias unless asked to replace it', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    aliases.add('proj', api);
    const error = errorOf(() => aliases.add('PROJ', web));
    expect(error.message).toBe(`alias "proj" already points to ${api}; remove it first or replace it`);
    expect(aliases.get('proj')).toBe(api);
    expect(aliases.add('proj', web, { replace: true })).toEqual({ alias: 'proj', path: web });
    expect(WorkspaceAliases.open(stateDir).get('proj')).toBe(web);
  });

  it('stores the real path and refuses what validateWorkspace refuses', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    const link = join(root, 'link-to-api');
    symlinkSync(api, link);
    expect(aliases.add('linked', link).path).toBe(api);
    // The wording is validateWorkspace's; this store only must not keep what it refuses.
    writeFileSync(join(root, 'file.txt'), 'x');
    for (const bad of [join(root, 'missing'), 'api', tmpdir(), '/', join(root, 'file.txt')]) {
      expect(errorOf(() => aliases.add('bad', bad)).kind, bad).toBe('workspace');
    }
    expect(aliases.list().map((a) => a.alias)).toEqual(['linked']);
  });

  it('takes a custom resolver', () => {
    const aliases = WorkspaceAliases.open(stateDir, { resolvePath: (p) => `/resolved${p}` });
    expect(aliases.add('x', '/a/b').path).toBe('/resolved/a/b');
    const relative = WorkspaceAliases.open(join(root, 's2'), { resolvePath: () => 'relative' });
    expect(errorOf(() => relative.add('x', '/a')).kind).toBe('internal');
  });

  it('a corrupt file stops open with the path and the problem, and is left alone', () => {
    mkdirSync(stateDir);
    for (const text of [
      '{"aliases": {',
      '{"aliases": {"API": "/work/api"}}',
      '{"aliases": {"api": "work/api"}}',
      '{"aliases": {}, "extra": 1}',
      '[]',
    ]) {
      writeFileSync(file(), text);
      const error = errorOf(() => WorkspaceAliases.open(stateDir));
      expect(error.kind).toBe('config');
      expect(error.message).toContain(`workspace alias file ${file()} is corrupt`);
      expect(readFileSync(file(), 'utf8')).toBe(text);
    }
  });

  it('a failed write changes nothing in memory', () => {
    const aliases = WorkspaceAliases.open(stateDir);
    aliases.add('api', api);
    mkdirSync(`${file()}.tmp`);
    expect(() => aliases.add('web', web)).toThrow();
    expect(() => aliases.remove('api')).toThrow();
    expect(aliases.list()).toEqual([{ alias: 'api', path: api }]);
    expect(existsSync(file())).toBe(true);
  });
});
