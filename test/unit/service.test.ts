import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  capturedEnvironment,
  launchdPlist,
  NODE_HEAP_FLAG,
  type ServiceSpec,
  serviceArguments,
  serviceCommands,
  serviceEnvironment,
  servicePaths,
  systemdUnit,
} from '../../src/cli/service.js';
import { LarkcodeError } from '../../src/core/errors.js';

// ---------------------------------------------------------------------------------------------
// An awkward install: every path has spaces, `%`, `$`, unicode; the ones that are arguments or
// values also have both quotes and a backslash. systemd refuses quotes and backslashes in the
// *executable's* path (tested below), so node's directory has everything else.

const base = mkdtempSync(join(tmpdir(), 'larkcode-service-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const AWKWARD = join(base, `lark code 100% $HOME "dq" 'sq' \\back ; <a&b> ünï 飞书 🚀`);
const NODE_DIR = join(base, `node 100%d $PATH \${X} ünï 飞书`);
const NODE = join(NODE_DIR, 'node');
const BIN = join(AWKWARD, 'bin', 'larkcode.js');
mkdirSync(join(AWKWARD, 'bin'), { recursive: true });
mkdirSync(join(AWKWARD, 'work'), { recursive: true });
mkdirSync(NODE_DIR, { recursive: true });
// A real executable at an awkward path: systemd-analyze checks that ExecStart's binary exists.
symlinkSync(process.execPath, NODE);
writeFileSync(BIN, "import '../dist/src/cli/main.js';\n");

const PROXY = `http://us%er:p@ss$word"'\\%40@proxy.example:8080/?a=<b>&c=d`;
const SECRETS = {
  FEISHU_APP_SECRET: 'feishu-secret-value-1',
  OPENAI_API_KEY: 'sk-openai-value-2',
  CODEX_API_KEY: 'codex-key-value-3',
  GITHUB_TOKEN: 'ghp-token-value-4',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-value-5',
  PROXY_PASSWORD: 'proxy-password-value-6',
};

const env: NodeJS.ProcessEnv = {
  PATH: `${NODE_DIR}:/usr/local/bin:/usr/bin:/bin`,
  HTTP_PROXY: PROXY,
  HTTPS_PROXY: PROXY,
  http_proxy: PROXY,
  https_proxy: PROXY,
  NO_PROXY: 'localhost,127.0.0.1,.internal',
  no_proxy: 'localhost,127.0.0.1,.internal',
  ALL_PROXY: 'socks5h://proxy.example:1080',
  CODEX_HOME: join(AWKWARD, 'codex home'),
  LANG: 'zh_CN.UTF-8',
  LC_ALL: 'zh_CN.UTF-8',
  HOME: '/home/someone',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
  FEISHU_APP_ID: 'cli_a1b2c3d4e5f60718',
  EMPTY_ONE: '',
  ...SECRETS,
};

const spec: ServiceSpec = {
  profile: 'work-2',
  nodePath: NODE,
  larkcodeBin: BIN,
  larkcodeHome: join(AWKWARD, 'home'),
  env,
  workingDirectory: join(AWKWARD, 'work'),
  logDir: join(AWKWARD, 'logs'),
};

const expectedArgs = [NODE, NODE_HEAP_FLAG, BIN, 'start', '--profile', 'work-2'];
const expectedEnv: Record<string, string> = {
  PATH: env.PATH!,
  HTTP_PROXY: PROXY,
  HTTPS_PROXY: PROXY,
  NO_PROXY: 'localhost,127.0.0.1,.internal',
  ALL_PROXY: 'socks5h://proxy.example:1080',
  http_proxy: PROXY,
  https_proxy: PROXY,
  no_proxy: 'localhost,127.0.0.1,.internal',
  CODEX_HOME: join(AWKWARD, 'codex home'),
  LARKCODE_HOME: join(AWKWARD, 'home'),
  LANG: 'zh_CN.UTF-8',
  LC_ALL: 'zh_CN.UTF-8',
};
const LOG_FILE = join(AWKWARD, 'logs', 'larkcode-work-2.log');

function which(command: string): string | undefined {
  const found = spawnSync('which', [command], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : undefined;
}

// ---------------------------------------------------------------------------------------------
// systemd, read back the way systemd reads it (systemd.syntax(7), systemd.service(5), systemd.exec(5))

/** Sections → [key, raw value] in order. */
function parseUnitFile(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // A trailing backslash would join the next line: none of our values may end in one.
    if (line.endsWith('\\')) throw new Error(`line continues: ${line}`);
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      current = [];
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !current) throw new Error(`not an assignment in a section: ${line}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function values(unit: Map<string, Array<[string, string]>>, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

function one(unit: Map<string, Array<[string, string]>>, section: string, key: string): string {
  const found = values(unit, section, key);
  expect(found, `${section}.${key}`).toHaveLength(1);
  return found[0]!;
}

/** `%%` → `%`; any other specifier is a mistake here (nothing of ours uses one). */
function resolveSpecifiers(value: string): string {
  return value.replace(/%(.|$)/g, (match, next: string) => {
    if (next === '%') return '%';
    throw new Error(`unexpected specifier ${match} in ${value}`);
  });
}

const C_ESCAPES: Record<string, string> = {
  '\\': '\\',
  '"': '"',
  "'": "'",
  n: '\n',
  t: '\t',
  r: '\r',
  s: ' ',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
};

/** extract_first_word(EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE), repeated: quotes and C escapes, whitespace splits. */
function splitWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  const space = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
  while (i < value.length) {
    while (space(value[i])) i++;
    if (i >= value.length) break;
    let word = '';
    let quote: string | undefined;
    for (; i < value.length; i++) {
      const ch = value[i]!;
      if (ch === '\\') {
        const next = value[++i];
        if (next === undefined) throw new Error(`trailing backslash in ${value}`);
        if (next === 'x') {
          word += String.fromCharCode(Number.parseInt(value.slice(i + 1, i + 3), 16));
          i += 2;
        } else if (next in C_ESCAPES) word += C_ESCAPES[next];
        else throw new Error(`unknown escape \\${next} in ${value}`);
      } else if (quote) {
        if (ch === quote) quote = undefined;
        else word += ch;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (space(ch)) break;
      else word += ch;
    }
    if (quote) throw new Error(`unterminated quote in ${value}`);
    words.push(word);
  }
  return words;
}

/** ExecStart's argument expansion: `$$` → `$`; a real variable reference is a mistake here. */
function expandArgument(arg: string): string {
  return arg.replace(/\$(.|$)/g, (match, next: string) => {
    if (next === '$') return '$';
    throw new Error(`unexpected variable reference ${match} in ${arg}`);
  });
}

/** The argv systemd would run: specifiers over the line, words, then `$$` in the arguments only. */
function execStartArgv(value: string): string[] {
  const [executable, ...args] = splitWords(resolveSpecifiers(value));
  return [executable!, ...args.map(expandArgument)];
}

/** Environment=: specifiers, words, each KEY=VALUE; `$` has no meaning. */
function environmentOf(values: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of values) {
    for (const word of splitWords(resolveSpecifiers(value))) {
      const eq = word.indexOf('=');
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// plist, read back with a small XML reader (and plistlib / plutil when the machine has them)

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

function decodeEntities(text: string): string {
  return text.replace(/&([^;]*);|&|</g, (match, name: string | undefined) => {
    if (name === undefined) throw new Error(`unescaped ${match} in XML text: ${text}`);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (name in named) return named[name]!;
    const numeric = /^#(x[0-9a-f]+|[0-9]+)$/i.exec(name);
    if (numeric) {
      const code = numeric[1]!.startsWith('x')
        ? Number.parseInt(numeric[1]!.slice(1), 16)
        : Number.parseInt(numeric[1]!, 10);
      return String.fromCodePoint(code);
    }
    throw new Error(`unknown entity &${name};`);
  });
}

function parsePlist(xml: string): PlistValue {
  const tokens = xml.match(/<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->|<[^>]*>|[^<]+/g) ?? [];
  let i = 0;
  const significant = () => {
    while (i < tokens.length) {
      const token = tokens[i]!;
      if (token.startsWith('<?') || token.startsWith('<!') || token.trim() === '') i++;
      else break;
    }
    return tokens[i];
  };
  const expectTag = (tag: string) => {
    const token = significant();
    if (token !== tag) throw new Error(`expected ${tag}, got ${token}`);
    i++;
  };
  const text = (close: string): string => {
    let out = '';
    while (tokens[i] !== close) {
      const token = tokens[i++];
      if (token === undefined || token.startsWith('<')) throw new Error(`expected text then ${close}`);
      out += decodeEntities(token);
    }
    i++;
    return out;
  };
  const value = (): PlistValue => {
    const token = significant();
    i++;
    switch (token) {
      case '<string>':
        return text('</string>');
      case '<integer>':
        return Number(text('</integer>'));
      case '<true/>':
        return true;
      case '<false/>':
        return false;
      case '<array>': {
        const items: PlistValue[] = [];
        while (significant() !== '</array>') items.push(value());
        i++;
        return items;
      }
      case '<dict>': {
        const dict: Record<string, PlistValue> = {};
        while (significant() !== '</dict>') {
          expectTag('<key>');
          const key = text('</key>');
          if (key in dict) throw new Error(`duplicate key ${key}`);
          dict[key] = value();
        }
        i++;
        return dict;
      }
      default:
        throw new Error(`unexpected ${token}`);
    }
  };
  expectTag('<plist version="1.0">');
  const root = value();
  expectTag('</plist>');
  if (significant() !== undefined) throw new Error('content after </plist>');
  return root;
}

const expectedPlist = {
  Label: 'com.larkcode.work-2',
  ProgramArguments: expectedArgs,
  EnvironmentVariables: expectedEnv,
  WorkingDirectory: join(AWKWARD, 'work'),
  RunAtLoad: true,
  KeepAlive: { SuccessfulExit: false },
  StandardOutPath: '/dev/null',
  StandardErrorPath: LOG_FILE,
  ThrottleInterval: 5,
  ExitTimeOut: 10,
};

// ---------------------------------------------------------------------------------------------

describe('capturedEnvironment', () => {
  it('keeps PATH, proxies (both cases, credentials included), CODEX_HOME, LARKCODE_HOME, locale', () => {
    expect(capturedEnvironment({ ...env, LARKCODE_HOME: '/srv/lc' })).toEqual({
      ...expectedEnv,
      LARKCODE_HOME: '/srv/lc',
    });
  });

  it('never captures secrets, keys, tokens, passwords or anything off the list', () => {
    const captured = capturedEnvironment(env);
    for (const name of [...Object.keys(SECRETS), 'HOME', 'SSH_AUTH_SOCK', 'FEISHU_APP_ID', 'EMPTY_ONE'])
      expect(captured).not.toHaveProperty(name);
    for (const name of Object.keys(captured)) expect(name).not.toMatch(/SECRET|TOKEN|KEY|PASSWORD/i);
  });

  it('spec.larkcodeHome overrides LARKCODE_HOME from the environment', () => {
    expect(serviceEnvironment({ ...spec, env: { ...env, LARKCODE_HOME: '/elsewhere' } }).LARKCODE_HOME).toBe(
      join(AWKWARD, 'home'),
    );
  });

  it('refuses a control character in a captured value', () => {
    expect(() => capturedEnvironment({ PATH: '/bin\n[Service]' })).toThrow(LarkcodeError);
  });
});

describe('systemd unit', () => {
  const { name, text } = systemdUnit(spec);
  const unit = parseUnitFile(text);

  it('is named after the profile and has the expected sections and settings', () => {
    expect(name).toBe('larkcode-work-2.service');
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(one(unit, 'Unit', 'After')).toBe('network-online.target');
    expect(one(unit, 'Unit', 'Wants')).toBe('network-online.target');
    expect(one(unit, 'Unit', 'StartLimitIntervalSec')).toMatch(/^\d+$/);
    expect(one(unit, 'Unit', 'StartLimitBurst')).toMatch(/^\d+$/);
    expect(one(unit, 'Service', 'Type')).toBe('simple');
    expect(one(unit, 'Service', 'Restart')).toBe('on-failure');
    expect(one(unit, 'Service', 'RestartSec')).toBe('5');
    expect(one(unit, 'Service', 'TimeoutStopSec')).toBe('10');
    expect(one(unit, 'Service', 'KillMode')).toBe('mixed');
    expect(one(unit, 'Service', 'NoNewPrivileges')).toBe('yes');
    expect(one(unit, 'Install', 'WantedBy')).toBe('default.target');
  });

  it('ExecStart round-trips through systemd quoting: node, heap flag, bin, start --profile', () => {
    expect(serviceArguments(spec)).toEqual(expectedArgs);
    expect(execStartArgv(one(unit, 'Service', 'ExecStart'))).toEqual(expectedArgs);
  });

  it('Environment round-trips (proxy credentials, `$`, `%`, quotes, backslash) and holds no secret', () => {
    expect(environmentOf(values(unit, 'Service', 'Environment'))).toEqual(expectedEnv);
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    for (const name of Object.keys(SECRETS)) expect(text).not.toContain(name);
  });

  it('WorkingDirectory and the log file are raw paths after specifiers', () => {
    expect(resolveSpecifiers(one(unit, 'Service', 'WorkingDirectory'))).toBe(join(AWKWARD, 'work'));
    expect(resolveSpecifiers(one(unit, 'Service', 'StandardOutput'))).toBe('null');
    expect(resolveSpecifiers(one(unit, 'Service', 'StandardError'))).toBe(`append:${LOG_FILE}`);
    expect(resolveSpecifiers(one(unit, 'Service', 'StandardError'))).toBe(`append:${LOG_FILE}`);
  });

  it('the default profile runs plain `start`, with a plain node path unquoted', () => {
    const plain = systemdUnit({ ...spec, profile: 'default', nodePath: process.execPath });
    expect(plain.name).toBe('larkcode-default.service');
    const argv = execStartArgv(one(parseUnitFile(plain.text), 'Service', 'ExecStart'));
    expect(argv).toEqual([process.execPath, NODE_HEAP_FLAG, BIN, 'start']);
  });

  it.each([
    ['a double quote', '/opt/no"de/bin/node'],
    ['an apostrophe', "/home/o'brien/bin/node"],
    ['a backslash', '/opt/back\\slash/node'],
  ])('refuses a node path with %s (systemd will not run it), naming the path', (_, nodePath) => {
    expect(() => systemdUnit({ ...spec, nodePath })).toThrow(LarkcodeError);
    expect(() => systemdUnit({ ...spec, nodePath })).toThrow(nodePath);
    // launchd has no such rule.
    expect(parsePlist(launchdPlist({ ...spec, nodePath }).text)).toMatchObject({
      ProgramArguments: [nodePath, NODE_HEAP_FLAG, BIN, 'start', '--profile', 'work-2'],
    });
  });

  it.each([
    ['a relative node path', { nodePath: 'node' }],
    ['a relative bin', { larkcodeBin: 'bin/larkcode.js' }],
    ['a relative working directory', { workingDirectory: 'work' }],
    ['a newline in a path', { logDir: '/tmp/logs\n[Service]\nExecStartPre=/bin/evil' }],
    ['a profile with a slash', { profile: '../etc' }],
    ['a profile with a space', { profile: 'my work' }],
    ['an empty profile', { profile: '' }],
  ])('refuses %s', (_, patch) => {
    expect(() => systemdUnit({ ...spec, ...patch })).toThrow(LarkcodeError);
    expect(() => launchdPlist({ ...spec, ...patch })).toThrow(LarkcodeError);
  });

  const analyze = which('systemd-analyze');

  /** Runs `systemd-analyze verify` on a unit file; verify warns (exit 0) on unknown keys and bad syntax. */
  function verify(file: string): { status: number | null; output: string } {
    const runtime = mkdtempSync(join(base, 'runtime-'));
    chmodSync(runtime, 0o700);
    const run = (args: string[]) => {
      const result = spawnSync(analyze!, ['verify', '--man=no', ...args, file], {
        encoding: 'utf8',
        env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? runtime, SYSTEMD_PAGER: '' },
      });
      return { status: result.status, output: `${result.stdout}${result.stderr}` };
    };
    const user = run(['--user']);
    // Where no user manager can be set up (some containers), the system mode checks the same syntax.
    return /Failed to initialize manager/.test(user.output) ? run([]) : user;
  }

  it(`systemd-analyze verify accepts it — ${
    analyze
      ? `systemd-analyze found at ${analyze}`
      : 'systemd-analyze NOT on PATH: only the built-in systemd-syntax reader above checked the unit'
  }`, () => {
    if (!analyze) {
      console.warn('systemd-analyze is not on PATH: the unit was checked by the test’s own reader only');
      return;
    }
    const dir = mkdtempSync(join(base, 'units-'));
    const file = join(dir, name);
    writeFileSync(file, text);
    const result = verify(file);
    const aboutUs = result.output.split('\n').filter((line) => line.includes(name));
    expect({ status: result.status, aboutUs }).toEqual({ status: 0, aboutUs: [] });

    // The check has teeth: the same unit with a node that does not exist is refused.
    const missing = join(dir, 'larkcode-missing.service');
    writeFileSync(missing, systemdUnit({ ...spec, profile: 'missing', nodePath: `${NODE}-missing` }).text);
    const refused = verify(missing);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain('node-missing');
  });
});

describe('launchd plist', () => {
  const { label, text } = launchdPlist(spec);

  it('round-trips ProgramArguments, EnvironmentVariables and every setting through XML', () => {
    expect(label).toBe('com.larkcode.work-2');
    expect(parsePlist(text)).toEqual(expectedPlist);
  });

  it('holds no secret', () => {
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    for (const name of Object.keys(SECRETS)) expect(text).not.toContain(name);
  });

  it('the default profile runs plain `start`', () => {
    const plain = parsePlist(launchdPlist({ ...spec, profile: 'default' }).text) as Record<
      string,
      PlistValue
    >;
    expect(plain.Label).toBe('com.larkcode.default');
    expect(plain.ProgramArguments).toEqual([NODE, NODE_HEAP_FLAG, BIN, 'start']);
  });

  const python = which('python3');
  it(`an independent plist parser reads the same — ${
    python ? `python3 plistlib (${python})` : 'python3 NOT on PATH: only the built-in XML reader checked it'
  }`, () => {
    if (!python) {
      console.warn('python3 is not on PATH: the plist was checked by the test’s own reader only');
      return;
    }
    const file = join(mkdtempSync(join(base, 'plist-')), `${label}.plist`);
    writeFileSync(file, text);
    const read = spawnSync(
      python,
      [
        '-c',
        'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb")), ensure_ascii=False))',
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(read.stderr).toBe('');
    expect(JSON.parse(read.stdout)).toEqual(expectedPlist);
  });

  const plutil = which('plutil');
  it(`plutil -lint accepts it — ${plutil ? `plutil found at ${plutil}` : 'plutil NOT on PATH (not macOS)'}`, () => {
    if (!plutil) return;
    const file = join(mkdtempSync(join(base, 'plist-')), `${label}.plist`);
    writeFileSync(file, text);
    const lint = spawnSync(plutil, ['-lint', file], { encoding: 'utf8' });
    expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);
  });
});

describe('where the file goes and how the service is driven', () => {
  it('linux: ~/.config/systemd/user/<unit>; systemctl --user', () => {
    const where = servicePaths('linux', '/home/ann', spec);
    expect(where).toEqual({
      name: 'larkcode-work-2.service',
      dir: '/home/ann/.config/systemd/user',
      file: '/home/ann/.config/systemd/user/larkcode-work-2.service',
      logFile: LOG_FILE,
    });
    const commands = serviceCommands('linux', where.name, where);
    expect(commands.install).toEqual([
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'larkcode-work-2.service'],
    ]);
    expect(commands.uninstall).toEqual([
      ['systemctl', '--user', 'disable', '--now', 'larkcode-work-2.service'],
    ]);
    expect(commands.afterUninstall).toEqual([['systemctl', '--user', 'daemon-reload']]);
    expect(commands.start).toEqual([['systemctl', '--user', 'start', 'larkcode-work-2.service']]);
    expect(commands.stop).toEqual([['systemctl', '--user', 'stop', 'larkcode-work-2.service']]);
    expect(commands.restart).toEqual([['systemctl', '--user', 'restart', 'larkcode-work-2.service']]);
    expect(commands.status).toEqual([
      ['systemctl', '--user', 'status', '--no-pager', 'larkcode-work-2.service'],
    ]);
    expect(commands.logs).toEqual({ file: LOG_FILE, follow: ['tail', '-n', '200', '-F', LOG_FILE] });
  });

  it('darwin: ~/Library/LaunchAgents/<label>.plist; launchctl in gui/<uid>', () => {
    const where = servicePaths('darwin', '/Users/ann', spec);
    expect(where).toEqual({
      name: 'com.larkcode.work-2',
      dir: '/Users/ann/Library/LaunchAgents',
      file: '/Users/ann/Library/LaunchAgents/com.larkcode.work-2.plist',
      logFile: LOG_FILE,
    });
    const commands = serviceCommands('darwin', where.name, { ...where, uid: 501 });
    const target = 'gui/501/com.larkcode.work-2';
    expect(commands.install).toEqual([
      ['launchctl', 'enable', target],
      ['launchctl', 'bootstrap', 'gui/501', where.file],
    ]);
    expect(commands.uninstall).toEqual([['launchctl', 'bootout', target]]);
    expect(commands.afterUninstall).toEqual([]);
    expect(commands.start).toEqual([['launchctl', 'kickstart', target]]);
    expect(commands.stop).toEqual([['launchctl', 'kill', 'SIGTERM', target]]);
    expect(commands.restart).toEqual([['launchctl', 'kickstart', '-k', target]]);
    expect(commands.status).toEqual([['launchctl', 'print', target]]);
    expect(commands.logs.file).toBe(LOG_FILE);
  });

  it.each(['win32', 'freebsd'] as const)('%s: a LarkcodeError that says what is supported', (platform) => {
    expect(() => servicePaths(platform, '/home/ann', spec)).toThrow(LarkcodeError);
    expect(() => serviceCommands(platform, 'x', { file: '/x', logFile: '/x.log' })).toThrow(
      /supports Linux \(systemd user units\) and macOS \(launchd agents\), not/,
    );
  });
});
