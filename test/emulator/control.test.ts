// The /_emu/ control API and the CLI, as black-box tests in another process use them.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEmulatorControl } from '../support/feishu-emulator/control-client.js';
import { type FeishuEmulator, startFeishuEmulator } from '../support/feishu-emulator/index.js';
import { type Bot, startBot } from './harness.js';

let emu: FeishuEmulator | undefined;
let bot: Bot | undefined;

afterEach(async () => {
  bot?.close();
  bot = undefined;
  await emu?.close();
  emu = undefined;
});

describe('feishu emulator: control API', () => {
  it('pushes a message and a card action over HTTP and reads the view back', async () => {
    emu = await startFeishuEmulator();
    const texts: string[] = [];
    bot = await startBot(emu, {
      'im.message.receive_v1': (d) => void texts.push(JSON.parse(d.message.content).text),
      'card.action.trigger': () => ({
        toast: { type: 'info', content: 'stopping' },
        card: {
          type: 'raw',
          data: { schema: '2.0', body: { elements: [{ tag: 'markdown', content: 'Stopped' }] } },
        },
      }),
    });
    const control = connectEmulatorControl(emu.url);
    expect(await control.waitForClient(2000)).toMatchObject({ connectedClients: 1, firstPingSeen: true });
    const pushed = await control.pushMessage({ text: 'via control', chatMode: 'group' });
    expect(pushed.acks).toEqual([{ code: 200 }]);
    expect(texts).toEqual(['via control']);

    const sent = await bot.client.im.v1.message.reply({
      path: { message_id: pushed.messageId },
      data: {
        msg_type: 'interactive',
        content: JSON.stringify({
          schema: '2.0',
          body: { elements: [{ tag: 'markdown', content: 'Running' }] },
        }),
      },
    });
    const cardMessageId = sent.data!.message_id!;
    const action = await control.pushCardAction({ messageId: cardMessageId, value: { action: 'stop' } });
    expect(action.acks[0]!.data).toMatchObject({ toast: { content: 'stopping' } });
    const view = await control.view(pushed.chatId);
    expect(view.map((v) => [v.from, v.text, v.updates])).toEqual([
      ['user', 'via control', 0],
      ['bot', 'Stopped', 1],
    ]);
    expect(view[1]!.parentId).toBe(pushed.messageId);
    expect(await control.violations()).toEqual([]);
    expect((await control.callsTo('POST', /\/reply$/)).length).toBe(1);
  });

  it('runs as a CLI that prints one JSON line and stops on SIGTERM', async () => {
    const cli = fileURLToPath(new URL('../../src/playground/emulator/cli.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`cli exited early: ${code}`)));
      });
      const info = JSON.parse(line) as { url: string; appId: string; appSecret: string; botOpenId: string };
      expect(Object.keys(info).sort()).toEqual(['appId', 'appSecret', 'botOpenId', 'url']);
      const status = await connectEmulatorControl(info.url).status();
      expect(status.connectedClients).toBe(0);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
