import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keystore } from '../../src/config/keystore.js';
import { loadConfig, secretContext } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { resolveSecret } from '../../src/config/secrets.js';

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

  it('resolves the app secret from a file (0600 only) or the keystore, and never shows it in an error', () => {
    const secretFile = join(dir, 'app-secret');
    writeFileSync(secretFile, 'sekrit-from-file\n', { mode: 0o600 });
    chmodSync(secretFile, 0o600);
    write({ ...valid, appSecret: `file:${secretFile}` });
    const fromFile = file;
    expect(loadConfig(fromFile, {}).appSecret).toBe('sekrit-from-file');
    chmodSync(secretFile, 0o644);
    expect(() => loadConfig(fromFile, {})).toThrow(/chmod 600/);
    try {
      loadConfig(fromFile, {});
    } catch (error) {
      expect(String(error)).not.toContain('sekrit-from-file');
    }
    const stateDir = mkdtempSync(join(tmpdir(), 'larkcode-config-state-'));
    Keystore.open(stateDir).set('feishu', 'sekrit-from-keystore');
    write({ ...valid, appSecret: 'keystore:feishu' });
    expect(loadConfig(file, {}, stateDir).appSecret).toBe('sekrit-from-keystore');
  });

  it('resolves env: secret references and refuses missing ones', () => {
    expect(resolveSecret('env:KEY', secretContext({ KEY: 'sk-1' }))).toBe('sk-1');
    expect(resolveSecret('plain', secretContext({}))).toBe('plain');
    expect(() => resolveSecret('env:MISSING', secretContext({}))).toThrow(/MISSING/);
  });

  it('keeps every file under LARKCODE_HOME when it is set', () => {
    expect(resolvePaths({ LARKCODE_HOME: '/x' })).toEqual({
      profile: 'default',
      configFile: '/x/config.json',
      stateDir: '/x/state',
      logDir: '/x/state/logs',
      defaultCodexHome: '/x/state/codex-home',
    });
    expect(resolvePaths({ HOME: '/h' }).configFile).toBe('/h/.config/larkcode/config.json');
  });

  it('gives each named profile its own config, state, logs and CODEX_HOME', () => {
    expect(resolvePaths({ LARKCODE_HOME: '/x' }, 'work')).toEqual({
      profile: 'work',
      configFile: '/x/profiles/work/config.json',
      stateDir: '/x/profiles/work/state',
      logDir: '/x/profiles/work/state/logs',
      defaultCodexHome: '/x/profiles/work/state/codex-home',
    });
    const xdg = resolvePaths({ HOME: '/h' }, 'work');
    expect(xdg.configFile).toBe('/h/.config/larkcode/profiles/work/config.json');
    expect(xdg.stateDir).toBe('/h/.local/state/larkcode/profiles/work');
    expect(() => resolvePaths({}, '../etc')).toThrow(/not a valid name/);
  });
});
