import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveSecret } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'larkcode-config-'));
const file = join(dir, 'config.json');
const write = (value: unknown) =>
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
const valid = { appId: 'cli_a1b2c3d4e5f60718', appSecret: 'secret', workspace: '/srv/project' };

describe('config', () => {
  it('applies defaults and the FEISHU_* environment overrides', () => {
    write(valid);
    const config = loadConfig(file, { FEISHU_APP_ID: 'cli_ffffffffffffffff', FEISHU_DOMAIN: 'lark' });
    expect(config.appId).toBe('cli_ffffffffffffffff');
    expect(config.domain).toBe('lark');
    expect(config.permissions).toEqual({
      defaultAccess: 'workspace',
      maxAccess: 'workspace',
      networkAccess: false,
      allowedRoots: [],
    });
    expect(config.groups.requireMention).toBe(true);
  });

  it.each([
    [{ ...valid, appId: 'app-1' }, 'appId'],
    [{ ...valid, workspace: 3 }, 'workspace'],
    [{ ...valid, domain: 'http://127.0.0.1:9/' }, 'domain'],
    [{ ...valid, permissions: { defaultAccess: 'root' } }, 'permissions.defaultAccess'],
    [{ ...valid, allowlist: ['alice'] }, 'allowlist'],
    [{ ...valid, codex: { confg: {} } }, 'confg'],
  ])('names the bad key: %j', (config, key) => {
    write(config);
    expect(() => loadConfig(file, {})).toThrow(key);
  });

  it('says where the file should be when it is missing', () => {
    expect(() => loadConfig(join(dir, 'nope.json'), {})).toThrow(/no config file at .*nope\.json/);
  });

  it('resolves env: secret references and refuses missing ones', () => {
    expect(resolveSecret('env:KEY', { KEY: 'sk-1' })).toBe('sk-1');
    expect(resolveSecret('plain', {})).toBe('plain');
    expect(() => resolveSecret('env:MISSING', {})).toThrow(/MISSING is not set/);
  });

  it('keeps every file under LARKCODE_HOME when it is set', () => {
    expect(resolvePaths({ LARKCODE_HOME: '/x' })).toEqual({
      configFile: '/x/config.json',
      stateDir: '/x/state',
      defaultCodexHome: '/x/state/codex-home',
    });
    expect(resolvePaths({ HOME: '/h' }).configFile).toBe('/h/.config/larkcode/config.json');
  });
});
