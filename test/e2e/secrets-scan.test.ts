import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showsOutcome } from '../support/cards.js';
import type { EmulatorControl } from '../support/feishu-emulator/control-client.js';
import { reply } from '../support/mock-model/index.js';
import { type Spawned, spawnProcess } from '../support/processes.js';
import type { StackInfo } from '../support/stack.js';
import { LARKCODE_BIN, type StackProcess, startStackProcess } from '../support/stack-process.js';

const PLANTED_KEY = 'sk-planted-9f8e7d6c5b4a39281706';

/** Every file under a directory, as text (binary-safe enough for a substring scan). */
function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(name));
    if (statSync(path).isFile()) out.push(path);
  }
  return out;
}

/**
 * Secrets stay secret: the agent's API key (by reference, from a 0600 file) and the app secret
 * are planted, runs succeed and fail, and then every log, state file, card, message, recording
 * and error is scanned for them. The key may only reach the codex child (and so the model).
 */
describe('no secret leaks anywhere', () => {
  let stack: StackProcess;
  let info: StackInfo;
  let emulator: EmulatorControl;
  let larkcode: Spawned;
  let keyFile: string;

  beforeAll(async () => {
    stack = await startStackProcess();
    ({ info, emulator } = stack);
    const home = info.env.LARKCODE_HOME!;
    keyFile = join(home, 'openai.key');
    writeFileSync(keyFile, `${PLANTED_KEY}\n`, { mode: 0o600 });
    const configPath = join(home, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.codex.apiKey = `file:${keyFile}`;
    writeFileSync(configPath, JSON.stringify(config));
    larkcode = spawnProcess(
      process.execPath,
      [LARKCODE_BIN, 'start', '--record', join(home, 'recording.jsonl')],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...info.env } },
    );
    await larkcode.waitForLine((l) => l.includes('"msg":"ready"'));
    await emulator.waitForClient();
  });
  afterAll(async () => {
    if (larkcode && larkcode.child.exitCode === null) larkcode.child.kill('SIGKILL');
    await stack?.close();
  });

  it('never shows the API key or the app secret in logs, state, cards, messages or errors', async () => {
    const mockBase = info.mockBaseUrl.replace(/\/v1$/, '');
    await fetch(`${mockBase}/_mock/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        reply.shell('echo working'),
        reply.message('done with the key hidden'),
        reply.failure('the model is overloaded'),
      ]),
    });
    const chat = await emulator.createChat({ mode: 'p2p' });
    const ok = await emulator.pushMessage({ chatId: chat.chatId, text: 'run something' });
    await emulator.waitFor(
      async () =>
        (await emulator.view(chat.chatId)).find((m) => m.parentId === ok.messageId && showsOutcome(m)),
      { timeoutMs: 20_000 },
    );
    const failing = await emulator.pushMessage({ chatId: chat.chatId, text: 'now fail' });
    await emulator.waitFor(
      async () =>
        (await emulator.view(chat.chatId)).find((m) => m.parentId === failing.messageId && showsOutcome(m)),
      { timeoutMs: 20_000 },
    );
    for (const command of ['/status', '/doctor', '/config', '/sessions']) {
      await emulator.pushMessage({ chatId: chat.chatId, text: command });
    }
    await emulator.waitFor(
      async () => (await emulator.view(chat.chatId)).filter((m) => m.from === 'bot').length >= 6,
      {
        timeoutMs: 10_000,
      },
    );
    larkcode.child.kill('SIGTERM');
    await larkcode.exited;

    // The key did reach the one place it belongs: the codex child, and through it the model.
    const requests = (await (await fetch(`${mockBase}/_mock/requests`)).json()) as {
      headers: Record<string, string>;
    }[];
    expect(requests.some((r) => r.headers.authorization === `Bearer ${PLANTED_KEY}`)).toBe(true);

    const secrets = [PLANTED_KEY, info.env.FEISHU_APP_SECRET!];
    const places: [string, string][] = [
      ['stdout', larkcode.stdout.join('\n')],
      ['stderr', larkcode.stderr.join('\n')],
      ['messages', JSON.stringify(await emulator.messages())],
      ['cards', JSON.stringify(await emulator.cards())],
      ['views', JSON.stringify(await emulator.view(chat.chatId))],
    ];
    const home = info.env.LARKCODE_HOME!;
    for (const file of allFiles(home)) {
      if (file === keyFile || file.endsWith('config.json') || file.includes('codex-home')) continue;
      places.push([file, readFileSync(file, 'latin1')]);
    }
    expect(
      places.some(([name]) => name.endsWith('larkcode.log.1')),
      'the log file was scanned',
    ).toBe(true);
    expect(
      places.some(([name]) => name.endsWith('audit.jsonl')),
      'the audit log was scanned',
    ).toBe(true);
    for (const [name, text] of places) {
      for (const secret of secrets) expect(text.includes(secret), `${name} holds a secret`).toBe(false);
    }
  });
});
