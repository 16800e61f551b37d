import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showsOutcome } from '../support/cards.js';
import { connectEmulatorControl, type EmulatorControl } from '../support/feishu-emulator/control-client.js';
import { reply } from '../support/mock-model/index.js';
import { type Spawned, spawnProcess } from '../support/processes.js';
import type { StackInfo } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '../..');
const LARKCODE_BIN = join(ROOT, 'bin/larkcode.js');

/** Only what a person's shell would have; no test-runner variables. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/**
 * larkcode as a black box: the stack script (emulator + mock model) in one process,
 * `larkcode start` from bin/ in another, talking only through the documented contract.
 */
describe('black box: larkcode start against the stack script', () => {
  let stack: Spawned;
  let info: StackInfo;
  let emulator: EmulatorControl;
  let larkcode: Spawned;
  let recordFile: string;

  beforeAll(async () => {
    stack = spawnProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test/support/stack.ts')], {
      cwd: ROOT,
    });
    info = JSON.parse(await stack.waitForLine((l) => l.startsWith('{'))) as StackInfo;
    emulator = connectEmulatorControl(info.emulatorUrl);
    recordFile = join(info.env.LARKCODE_HOME!, 'inspection.jsonl');
    larkcode = spawnProcess(process.execPath, [LARKCODE_BIN, 'start', '--record', recordFile], {
      env: cleanEnv(info.env),
    });
  });

  afterAll(async () => {
    if (larkcode && larkcode.child.exitCode === null) larkcode.child.kill('SIGKILL');
    stack?.child.kill('SIGTERM');
    await stack?.exited;
  });

  it('logs one JSON "ready" line once connected', async () => {
    const ready = JSON.parse(await larkcode.waitForLine((l) => l.includes('"msg":"ready"'))) as Record<
      string,
      unknown
    >;
    expect(ready.msg).toBe('ready');
    expect(ready.workspace).toBe(info.workspace);
    await emulator.waitForClient();
  });

  it('runs "create hello.txt containing hi" with the real codex and shows the card', async () => {
    const enqueue = await fetch(`${info.mockBaseUrl.replace(/\/v1$/, '')}/_mock/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([reply.shell('printf hi > hello.txt'), reply.message('Created hello.txt.')]),
    });
    expect(enqueue.ok).toBe(true);
    const chat = await emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId: chat.chatId, text: 'create hello.txt containing hi' });
    const card = await emulator.waitFor(
      async () =>
        (await emulator.view(chat.chatId)).find(
          (m) => m.from === 'bot' && m.parentId === sent.messageId && showsOutcome(m),
        ),
      { timeoutMs: 20_000 },
    );
    expect(card.text).toContain('Created hello.txt.');
    expect(card.text).toContain('printf hi > hello.txt');
    expect(readFileSync(join(info.workspace, 'hello.txt'), 'utf8')).toBe('hi');
  });

  it('a second larkcode on the same app refuses to start, naming the running pid', async () => {
    const second = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], { env: cleanEnv(info.env) });
    const exit = await second.exited;
    expect(exit.code).toBe(75);
    const stderr = second.stderr.join('\n');
    expect(stderr).toContain(`pid ${larkcode.child.pid}`);
    expect(stderr).toContain('split Feishu');
    expect(await emulator.connectedClients()).toBe(1);
  });

  it('stops cleanly on SIGTERM within 5 s', async () => {
    const started = Date.now();
    larkcode.child.kill('SIGTERM');
    const exit = await larkcode.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('/exit from the owner stops larkcode cleanly (exit code 0), after saying so', async () => {
    larkcode = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], { env: cleanEnv(info.env) });
    await larkcode.waitForLine((l) => l.includes('"msg":"ready"'));
    await emulator.waitForClient();
    const chat = await emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId: chat.chatId, text: '/exit' });
    const exit = await larkcode.exited;
    expect(exit.code).toBe(0);
    const said = (await emulator.view(chat.chatId)).find(
      (m) => m.from === 'bot' && m.parentId === sent.messageId,
    );
    expect(said?.text).toContain('Stopping larkcode');
  });

  it('--record wrote the live actor system as JSONL, secrets kept out', () => {
    const lines = readFileSync(recordFile, 'utf8').trim().split('\n');
    const events = lines.map((line) => JSON.parse(line) as { type: string });
    expect(events.some((e) => e.type === '@xstate.actor')).toBe(true);
    expect(events.some((e) => e.type === '@xstate.snapshot')).toBe(true);
    expect(lines.join('\n')).toContain('scope');
    expect(lines.join('\n')).not.toContain(info.env.FEISHU_APP_SECRET!);
  });
});

describe('black box: bad configuration', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'larkcode-badconfig-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const run = async (config: string) => {
    writeFileSync(join(home, 'config.json'), config);
    const proc = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], {
      env: cleanEnv({ LARKCODE_HOME: home }),
    });
    const exit = await proc.exited;
    return { code: exit.code, stderr: proc.stderr.join('\n') };
  };

  it('exits non-zero naming the bad key', async () => {
    const result = await run(
      JSON.stringify({
        appId: 'cli_a1b2c3d4e5f60718',
        appSecret: 's',
        workspace: tmpdir(),
        allowlist: 'everyone',
      }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/allowlist/);
  });

  it('names an unknown key instead of ignoring it', async () => {
    const result = await run(
      JSON.stringify({
        appId: 'cli_a1b2c3d4e5f60718',
        appSecret: 's',
        workspace: '/srv',
        workspaceDir: '/srv',
      }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/workspaceDir/);
  });

  it('says so when config.json is not JSON', async () => {
    const result = await run('{ "appId": ');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/not valid JSON/);
  });
});

describe('black box: kill -9 mid-run, then restart', () => {
  let stack: Spawned;
  let info: StackInfo;
  let emulator: EmulatorControl;
  const started: Spawned[] = [];

  beforeAll(async () => {
    stack = spawnProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test/support/stack.ts')], {
      cwd: ROOT,
    });
    info = JSON.parse(await stack.waitForLine((l) => l.startsWith('{'))) as StackInfo;
    emulator = connectEmulatorControl(info.emulatorUrl);
  });
  afterAll(async () => {
    for (const proc of started) if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    stack?.child.kill('SIGTERM');
    await stack?.exited;
  });

  const startLarkcode = async () => {
    const proc = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], { env: cleanEnv(info.env) });
    started.push(proc);
    await proc.waitForLine((l) => l.includes('"msg":"ready"'));
    return proc;
  };
  const enqueue = (turns: unknown[]) =>
    fetch(`${info.mockBaseUrl.replace(/\/v1$/, '')}/_mock/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(turns),
    });
  const mockRequests = async () =>
    (await (await fetch(`${info.mockBaseUrl.replace(/\/v1$/, '')}/_mock/requests`)).json()) as {
      lastUserText?: string;
    }[];
  const stateHolds = (messageId: string) => {
    const dir = join(info.env.LARKCODE_HOME!, 'state', 'scopes');
    return readdirSync(dir).some(
      (f) => f.endsWith('.json') && readFileSync(join(dir, f), 'utf8').includes(messageId),
    );
  };

  it('reports the run that was in flight as interrupted and still runs the queued message', async () => {
    const first = await startLarkcode();
    await enqueue([reply.hang()]);
    const chat = await emulator.createChat({ mode: 'p2p' });
    const running = await emulator.pushMessage({ chatId: chat.chatId, text: 'a run that will be cut off' });
    await emulator.waitFor(async () => (await mockRequests()).length === 1, { timeoutMs: 20_000 });
    const queued = await emulator.pushMessage({
      chatId: chat.chatId,
      text: 'please also do this afterwards',
    });
    await emulator.waitFor(() => stateHolds(queued.messageId), { timeoutMs: 5000 });

    first.child.kill('SIGKILL');
    await first.exited;

    await enqueue([reply.message('did the queued thing')]);
    await startLarkcode();
    const interrupted = await emulator.waitFor(
      async () =>
        (await emulator.view(chat.chatId)).find(
          (m) => m.from === 'bot' && m.parentId === running.messageId && showsOutcome(m),
        ),
      { timeoutMs: 20_000 },
    );
    expect(interrupted.text).toContain('Interrupted');
    expect(interrupted.text).toMatch(/stopped unexpectedly/);
    const answer = await emulator.waitFor(
      async () =>
        (await emulator.view(chat.chatId)).find(
          (m) => m.from === 'bot' && m.parentId === queued.messageId && showsOutcome(m),
        ),
      { timeoutMs: 20_000 },
    );
    expect(answer.text).toContain('did the queued thing');
    const prompts = (await mockRequests()).map((r) => r.lastUserText ?? '');
    // The cut-off turn is never re-run: the only later prompt is the queued message.
    expect(prompts.filter((p) => p.includes('a run that will be cut off'))).toHaveLength(1);
    expect(prompts.at(-1)).toContain('please also do this afterwards');
  });
});
