import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorControl } from '../support/feishu-emulator/control-client.js';
import { spawnProcess } from '../support/processes.js';
import type { StackInfo } from '../support/stack.js';
import { LARKCODE_BIN, ROOT, type StackProcess, startStackProcess } from '../support/stack-process.js';

/** The operator's commands, as a person runs them: `larkcode status`, `doctor`, `daemon install`. */
describe('larkcode CLI', () => {
  let stack: StackProcess;
  let info: StackInfo;
  let emulator: EmulatorControl;

  beforeAll(async () => {
    stack = await startStackProcess();
    ({ info, emulator } = stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...info.env,
    ...extra,
  });
  const runCli = async (args: string[], extra: Record<string, string> = {}) => {
    const proc = spawnProcess(process.execPath, [LARKCODE_BIN, ...args], { env: env(extra) });
    const exit = await proc.exited;
    return { code: exit.code, stdout: proc.stdout.join('\n'), stderr: proc.stderr.join('\n') };
  };

  it('doctor passes every check against a working setup, and fails (exit 1) with a fix on bad credentials', async () => {
    const good = await runCli(['doctor']);
    expect(good.stdout).toContain('✅ Feishu credentials and bot');
    expect(good.stdout).toContain('✅ CardKit');
    expect(good.stdout).toMatch(/✅ Codex binary: codex-cli \d/);
    expect(good.stdout).toContain('200340');
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain('✅ Sending and replying');
    expect(good.stdout).toContain('✅ Reactions');
    expect(good.stdout).toContain('✅ Agent credentials: API key from');
    expect(good.stdout).not.toContain('sk-blackbox');
    // A missing scope is found without side effects, and named with its fix.
    const fault = await emulator.failApi({
      method: 'POST',
      path: /\/reactions$/,
      status: 400,
      code: 99991672,
      times: -1,
    });
    const missing = await runCli(['doctor']);
    await emulator.clearFaults(fault);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(
      /❌ Reactions \(im:message.reactions:write_only\): scope missing — add it/,
    );
    const bad = await runCli(['doctor'], { FEISHU_APP_SECRET: 'wrong-secret' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/❌ Feishu credentials and bot: .*check appId\/appSecret/);
    expect(bad.stdout).not.toContain('wrong-secret');
  });

  it('status lists a running larkcode (exit 0), and says when none runs (exit 3)', async () => {
    expect((await runCli(['status'])).code).toBe(3);
    const larkcode = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], { env: env() });
    try {
      await larkcode.waitForLine((l) => l.includes('"msg":"ready"'));
      await emulator.waitForClient();
      const listed = await runCli(['status']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(`pid ${larkcode.child.pid}`);
      expect(listed.stdout).toContain('profile default');
    } finally {
      larkcode.child.kill('SIGTERM');
      await larkcode.exited;
    }
    expect((await runCli(['status'])).code).toBe(3);
  });

  it('daemon install writes a unit that captures PATH, proxies and CODEX_HOME (not secrets) and enables it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'larkcode-daemon-home-'));
    const bin = join(home, 'fakebin');
    mkdirSync(bin);
    const calls = join(home, 'calls.txt');
    // A stand-in systemctl that records what it was asked to do.
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> '${calls}'\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const result = await runCli(['daemon', 'install'], {
      HOME: home,
      PATH: `${bin}:${process.env.PATH}`,
      HTTPS_PROXY: 'http://proxy.local:3128',
      CODEX_HOME: '/srv/codex-home',
      OPENAI_API_KEY: 'sk-must-not-leak',
    });
    expect(result.code, result.stderr).toBe(0);
    const unit = readFileSync(join(home, '.config/systemd/user/larkcode-default.service'), 'utf8');
    expect(unit).toContain('HTTPS_PROXY=http://proxy.local:3128');
    expect(unit).toContain('CODEX_HOME=/srv/codex-home');
    expect(unit).toContain(`${bin}:`);
    expect(unit).toContain('larkcode.js');
    expect(unit).not.toContain('sk-must-not-leak');
    expect(unit).not.toContain(info.env.FEISHU_APP_SECRET!);
    const recorded = readFileSync(calls, 'utf8');
    expect(recorded).toContain('systemctl --user daemon-reload');
    expect(recorded).toContain('systemctl --user enable --now larkcode-default.service');
    const removed = await runCli(['daemon', 'uninstall'], { HOME: home, PATH: `${bin}:${process.env.PATH}` });
    expect(removed.code).toBe(0);
    expect(readFileSync(calls, 'utf8')).toContain('systemctl --user disable --now larkcode-default.service');
  });

  it('init writes a profile from flags with the secret in the keystore, and doctor then passes', async () => {
    const home = await mkdtemp(join(tmpdir(), 'larkcode-init-home-'));
    const workspace = await mkdtemp(join(tmpdir(), 'larkcode-init-ws-'));
    const flags = [
      'init',
      '--app-id',
      info.env.FEISHU_APP_ID!,
      '--app-secret',
      info.env.FEISHU_APP_SECRET!,
      '--domain',
      info.env.FEISHU_DOMAIN!,
      '--owner',
      info.ownerOpenId,
      '--workspace',
      workspace,
      '--auth',
      'api-key',
      '--api-key',
      'env:OPENAI_API_KEY',
    ];
    const clean = {
      LARKCODE_HOME: home,
      FEISHU_APP_ID: '',
      FEISHU_APP_SECRET: '',
      FEISHU_DOMAIN: '',
      LARKCODE_RUNTIME_DIR: join(home, 'run'),
    };
    const written = await runCli(flags, clean);
    expect(written.code, written.stderr).toBe(0);
    const config = readFileSync(join(home, 'config.json'), 'utf8');
    expect(config).toContain('"appSecret": "keystore:feishu-app-secret"');
    expect(config).not.toContain(info.env.FEISHU_APP_SECRET!);
    expect(readFileSync(join(home, 'state', 'keystore.json'), 'utf8')).not.toContain(
      info.env.FEISHU_APP_SECRET!,
    );
    const doctor = await runCli(['doctor'], clean);
    expect(doctor.stdout).toContain('✅ Feishu credentials and bot');
    const again = await runCli(flags, clean);
    expect(again.code).toBe(78);
    expect(again.stderr).toContain('already exists; pass --force');
    const missing = await runCli(['init', '--profile', 'other'], clean);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toMatch(/needs --app-id, --app-secret, --owner, --workspace/);
  });

  it('init asks in turn when interactive, and a named profile gets its own files', async () => {
    const home = await mkdtemp(join(tmpdir(), 'larkcode-init-home-'));
    const workspace = await mkdtemp(join(tmpdir(), 'larkcode-init-ws-'));
    const answers = [
      info.env.FEISHU_APP_ID,
      'env:MY_FEISHU_SECRET',
      info.env.FEISHU_DOMAIN,
      info.ownerOpenId,
      workspace,
      '',
      'codex-home',
    ].join('\n');
    const result = spawnSync(process.execPath, [LARKCODE_BIN, 'init', '--interactive', '--profile', 'work'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LARKCODE_HOME: home,
        MY_FEISHU_SECRET: info.env.FEISHU_APP_SECRET,
      },
      input: `${answers}\n`,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(home, 'profiles', 'work', 'config.json'), 'utf8'));
    expect(config.appSecret).toBe('env:MY_FEISHU_SECRET');
    expect(config.codex).toEqual({ auth: 'codex-home' });
    expect(config.workspace).toBe(realpathSync(workspace));
  });

  it('npm start with no Feishu app configured starts the labelled offline playground', async () => {
    const home = await mkdtemp(join(tmpdir(), 'larkcode-fresh-home-'));
    const proc = spawnProcess(process.execPath, [LARKCODE_BIN, 'start', '--or-playground'], {
      env: { PATH: process.env.PATH, HOME: home, LARKCODE_HOME: home },
    });
    try {
      const line = await proc.waitForLine((l) => l.includes('larkcode playground'), 20_000);
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(line)?.[0];
      expect(url).toBeDefined();
      expect(proc.stdout.join('\n')).toContain('No Feishu app is configured');
      expect(proc.stdout.join('\n')).toContain('offline demo');
      const page = await (await fetch(url!)).text();
      expect(page).toContain('local playground');
      const sent = await fetch(`${url}/api/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'hello playground' }),
      });
      expect(sent.status).toBe(200);
      const answered = await (async () => {
        for (let i = 0; i < 100; i++) {
          const view = (await (await fetch(`${url}/api/view`)).json()) as { from: string; text: string }[];
          const card = view.find((m) => m.from === 'bot' && m.text.includes('✅ Done'));
          if (card) return card;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return undefined;
      })();
      expect(answered?.text).toContain('ok: hello playground');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  }, 60_000);

  it('machines prints the state machines as Mermaid diagrams', async () => {
    const printed = await runCli(['machines']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('stateDiagram-v2');
    for (const name of ['scope', 'supervisor', 'renderer']) expect(printed.stdout).toContain(name);
    expect(printed.stdout).toBe(readFileSync(join(ROOT, 'docs/machines/README.md'), 'utf8').trimEnd());
  });
});
