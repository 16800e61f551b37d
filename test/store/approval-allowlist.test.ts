import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import { ApprovalAllowlist, approvalAllowlistFileSchema } from '../../src/store/approval-allowlist.js';

let root: string;
let file: string;
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'larkcode-allow-')));
  file = join(root, 'state', 'approval-allowlist.json');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const API = '/srv/work/api';
const WEB = '/srv/work/web';

describe('ApprovalAllowlist', () => {
  it('adds, lists and removes rules per workspace', () => {
    const list = new ApprovalAllowlist(file);
    expect(list.list(API)).toEqual([]);
    const test = list.add(API, ['npm', 'test'], 'ou_ana', 1000);
    expect(test).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}$/),
      prefix: ['npm', 'test'],
      addedBy: 'ou_ana',
      addedAt: 1000,
    });
    const push = list.add(API, ['git', 'push'], 'ou_bo', 2000);
    list.add(WEB, ['make', 'test'], 'ou_ana', 3000);
    expect(push.id).not.toBe(test.id);

    expect(list.list(API)).toEqual([test, push]);
    expect(list.prefixes(API)).toEqual([
      ['npm', 'test'],
      ['git', 'push'],
    ]);
    expect(list.prefixes('/srv/work/other')).toEqual([]);
    expect(list.listAll().map((w) => [w.workspace, w.rules.map((r) => r.prefix.join(' '))])).toEqual([
      [API, ['npm test', 'git push']],
      [WEB, ['make test']],
    ]);

    // An id belongs to one workspace: removing it from another does nothing.
    expect(list.remove(WEB, test.id)).toBe(false);
    expect(list.remove(API, test.id)).toBe(true);
    expect(list.remove(API, test.id)).toBe(false);
    expect(list.list(API)).toEqual([push]);
    expect(list.remove(API, push.id)).toBe(true);
    expect(list.listAll().map((w) => w.workspace)).toEqual([WEB]);
  });

  it('returns the existing rule for a duplicate prefix, writing nothing', () => {
    const list = new ApprovalAllowlist(file);
    const first = list.add(API, ['npm', 'test'], 'ou_ana', 1000);
    const before = readFileSync(file, 'utf8');
    expect(list.add(API, ['npm', 'test'], 'ou_bo', 2000)).toEqual(first);
    expect(readFileSync(file, 'utf8')).toBe(before);
    // A longer or shorter prefix is another rule; so is the same prefix in another workspace.
    expect(list.add(API, ['npm'], 'ou_bo', 2000).id).not.toBe(first.id);
    expect(list.add(API, ['npm', 'test', '--run'], 'ou_bo', 2000).id).not.toBe(first.id);
    expect(list.add(WEB, ['npm', 'test'], 'ou_bo', 2000).id).not.toBe(first.id);
    expect(list.list(API)).toHaveLength(3);
  });

  it('persists across instances in a valid 0600 file', () => {
    const list = new ApprovalAllowlist(file);
    const rule = list.add(API, ['cargo', 'build'], 'ou_ana', 1234);
    list.add(WEB, ['ls'], 'ou_bo', 5678);
    const reopened = new ApprovalAllowlist(file);
    expect(reopened.list(API)).toEqual([rule]);
    expect(reopened.prefixes(WEB)).toEqual([['ls']]);

    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(approvalAllowlistFileSchema.safeParse(json).success).toBe(true);
    expect(json).toEqual({
      version: 1,
      workspaces: {
        [API]: [{ id: rule.id, prefix: ['cargo', 'build'], addedBy: 'ou_ana', addedAt: 1234 }],
        [WEB]: [expect.objectContaining({ prefix: ['ls'] })],
      },
    });
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);

    reopened.remove(API, rule.id);
    expect(new ApprovalAllowlist(file).listAll().map((w) => w.workspace)).toEqual([WEB]);
  });

  it('hands out copies: changing a returned rule changes nothing stored', () => {
    const list = new ApprovalAllowlist(file);
    list.add(API, ['npm', 'test'], 'ou_ana', 1);
    list.list(API)[0]!.prefix.push('--evil');
    list.prefixes(API)[0]!.pop();
    expect(list.prefixes(API)).toEqual([['npm', 'test']]);
  });

  it('refuses an empty prefix and a relative workspace', () => {
    const list = new ApprovalAllowlist(file);
    for (const bad of [[], [''], ['npm', '']]) {
      expect(() => list.add(API, bad, 'ou_ana', 1)).toThrow(LarkcodeError);
    }
    expect(() => list.add('relative/ws', ['ls'], 'ou_ana', 1)).toThrow(LarkcodeError);
    expect(list.listAll()).toEqual([]);
    expect(existsSync(file)).toBe(false);
  });

  it('sets a corrupt file aside, reports it, and starts empty', () => {
    const bad = [
      '{"version": 1, "workspaces": {',
      '{"version": 2, "workspaces": {}}',
      '{"version": 1, "workspaces": {"relative": []}}',
      `{"version": 1, "workspaces": {"${API}": [{"id": "x", "prefix": ["ls"], "addedBy": "a", "addedAt": 1}]}}`,
      `{"version": 1, "workspaces": {"${API}": [{"id": "0000abcd", "prefix": [], "addedBy": "a", "addedAt": 1}]}}`,
      '{"version": 1, "workspaces": {}, "extra": true}',
    ];
    for (const text of bad) {
      rmSync(join(root, 'state'), { recursive: true, force: true });
      new ApprovalAllowlist(file).add(WEB, ['ls'], 'ou_ana', 1); // creates the directory
      writeFileSync(file, text);
      const reports: { path: string; movedTo: string | undefined; problem: string }[] = [];
      const list = new ApprovalAllowlist(file, { onCorrupt: (info) => reports.push(info) });
      expect(list.listAll(), text).toEqual([]);
      expect(reports).toEqual([{ path: file, movedTo: `${file}.corrupt`, problem: expect.any(String) }]);
      expect(readFileSync(`${file}.corrupt`, 'utf8')).toBe(text);
      expect(existsSync(file)).toBe(false);
      // The next write makes a good file again; the bad copy stays.
      list.add(API, ['npm', 'test'], 'ou_ana', 2);
      expect(new ApprovalAllowlist(file).prefixes(API)).toEqual([['npm', 'test']]);
      expect(readdirSync(join(root, 'state')).sort()).toEqual([
        'approval-allowlist.json',
        'approval-allowlist.json.corrupt',
      ]);
    }
  });

  it('a missing file is an empty list and creates nothing until a rule is added', () => {
    const list = new ApprovalAllowlist(file);
    expect(list.listAll()).toEqual([]);
    expect(list.remove(API, '00000000')).toBe(false);
    expect(existsSync(join(root, 'state'))).toBe(false);
  });
});
