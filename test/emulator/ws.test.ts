// Long connection: discovery, ping/pong, event delivery, acks, fragments, redelivery, reconnect.
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
} from '../support/feishu-emulator/index.js';
import { type Bot, type Handler, startBot } from './harness.js';

let emu: FeishuEmulator | undefined;
let bot: Bot | undefined;

afterEach(async () => {
  bot?.close();
  bot = undefined;
  await emu?.close();
  emu = undefined;
});

async function setup(
  handlers: Record<string, Handler>,
  opts = {},
): Promise<{ emu: FeishuEmulator; bot: Bot }> {
  emu = await startFeishuEmulator(opts);
  bot = await startBot(emu, handlers);
  return { emu, bot };
}

describe('feishu emulator: long connection', () => {
  it('serves discovery, accepts the WS connection and answers pings with the full ClientConfig', async () => {
    const { emu, bot } = await setup({}, { pingIntervalSec: 1 });
    const discovery = emu.callsTo('POST', /^\/callback\/ws\/endpoint$/);
    expect(discovery).toHaveLength(1);
    expect(discovery[0]!.body).toEqual({ AppID: emu.appId, AppSecret: emu.appSecret });
    expect(discovery[0]!.headers.locale).toBe('zh');
    const url = (discovery[0]!.response as { data: { URL: string } }).data.URL;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/v2\?fpid=493&aid=552564&device_id=\w+&access_key=\w+/);
    expect(url).toContain('service_id=33554678&ticket=');
    expect(emu.connectedClients()).toBe(1);
    // The second ping only comes if the pong's ClientConfig (PingInterval 1 s) was accepted.
    await emu.waitFor(() => emu.status().pingsReceived >= 2, { timeoutMs: 3000 });
    expect(emu.status().pongsSent).toBeGreaterThanOrEqual(2);
    expect(bot.ws.getConnectionStatus().state).toBe('connected');
    expect(bot.logger.errors.flat().join(' ')).not.toContain('invalid pong');
  });

  it('delivers a p2p im.message.receive_v1 to the handler and gets ack {code:200}', async () => {
    const received: unknown[] = [];
    const { emu } = await setup({
      'im.message.receive_v1': (data) => {
        received.push(data);
      },
    });
    const result = await emu.pushMessage({ text: 'hello bot' });
    expect(result.acks).toEqual([{ code: 200 }]);
    expect(result.messageId).toMatch(/^om_[0-9a-f]+$/);
    expect(result.chatId).toMatch(/^oc_[0-9a-f]+$/);
    expect(received).toHaveLength(1);
    const data = received[0] as {
      event_type: string;
      event_id: string;
      sender: { sender_type: string; sender_id: { open_id: string } };
      message: { chat_type: string; message_type: string; content: string; message_id: string };
    };
    expect(data.event_type).toBe('im.message.receive_v1');
    expect(data.event_id).toBe(result.eventId);
    expect(data.sender.sender_type).toBe('user');
    expect(data.sender.sender_id.open_id).toBe(DEFAULT_USER_OPEN_ID);
    expect(data.message.chat_type).toBe('p2p');
    expect(data.message.message_type).toBe('text');
    expect(JSON.parse(data.message.content)).toEqual({ text: 'hello bot' });
    expect(emu.view(result.chatId)).toMatchObject([{ from: 'user', text: 'hello bot' }]);
  });

  it('builds @-mentions of the bot in group messages', async () => {
    const received: { message: { content: string; mentions: { key: string; id: { open_id: string } }[] } }[] =
      [];
    const { emu } = await setup({ 'im.message.receive_v1': (d) => void received.push(d) });
    const { chatId } = emu.createChat({ mode: 'group', name: 'dev' });
    await emu.pushMessage({ chatId, text: 'run tests', mentionBot: true });
    const message = received[0]!.message;
    expect(JSON.parse(message.content)).toEqual({ text: '@_user_1 run tests' });
    expect(message.mentions[0]).toMatchObject({ key: '@_user_1', id: { open_id: emu.botOpenId } });
    expect(emu.view(chatId)[0]!.text).toBe(`@${emu.botName} run tests`);
  });

  it('returns the handler result in the ack (card.action.trigger → toast) and records it', async () => {
    const { emu } = await setup({
      'card.action.trigger': (data) => ({
        toast: { type: 'success', content: `did ${data.action.value.action}` },
        card: {
          type: 'raw',
          data: { schema: '2.0', body: { elements: [{ tag: 'markdown', content: 'done' }] } },
        },
      }),
    });
    const { messageId, chatId } = await emu.pushMessage({ text: 'x' });
    const { acks } = await emu.pushCardAction({ messageId, value: { action: 'approve' } });
    expect(acks).toHaveLength(1);
    expect(acks[0]!.code).toBe(200);
    expect(acks[0]!.data).toMatchObject({ toast: { type: 'success', content: 'did approve' } });
    expect(emu.cardCallbacks[0]!.toast).toEqual({ type: 'success', content: 'did approve' });
    expect(emu.violations).toEqual([]);
    // The callback was about a text message here; only cards get replaced.
    expect(emu.view(chatId)[0]!.text).toBe('x');
  });

  it('records callback_timeout when a card callback is acked after 3 s', async () => {
    const { emu } = await setup({
      'card.action.trigger': async () => {
        await new Promise((resolve) => setTimeout(resolve, 3100));
        return { toast: { type: 'info', content: 'late' } };
      },
    });
    const { messageId } = await emu.pushMessage({ text: 'x' });
    await emu.pushCardAction({ messageId, value: { action: 'slow' } });
    expect(emu.violations.map((v) => v.kind)).toEqual(['callback_timeout']);
  });

  it('reassembles fragments into one handler call and one ack', async () => {
    let calls = 0;
    const { emu } = await setup({ 'im.message.receive_v1': () => void calls++ });
    const { acks } = await emu.pushMessage({ text: 'long '.repeat(500), fragments: 4 });
    expect(acks).toEqual([{ code: 200 }]);
    expect(calls).toBe(1);
  });

  it('redelivers the same event `times` times (the SDK does not dedup)', async () => {
    const seen: string[] = [];
    const { emu } = await setup({ 'im.message.receive_v1': (d) => void seen.push(d.message.message_id) });
    const { messageId, acks } = await emu.pushMessage({ text: 'dup', times: 3 });
    expect(acks).toHaveLength(3);
    expect(seen).toEqual([messageId, messageId, messageId]);
    expect(emu.messages()).toHaveLength(1);
  });

  it('reconnects through discovery after dropConnection and events flow again', async () => {
    let calls = 0;
    const { emu } = await setup({ 'im.message.receive_v1': () => void calls++ });
    await emu.pushMessage({ text: 'before' });
    emu.dropConnection('terminate');
    await emu.waitFor(() => emu.callsTo('POST', /ws\/endpoint/).length === 2, { timeoutMs: 5000 });
    await emu.waitForClient(5000);
    const { acks } = await emu.pushMessage({ text: 'after' });
    expect(acks).toEqual([{ code: 200 }]);
    expect(calls).toBe(2);
  });

  it('holds deliveries on a silenced connection', async () => {
    const { emu } = await setup({ 'im.message.receive_v1': () => undefined });
    emu.setSilent(true);
    expect(emu.connectedClients()).toBe(1);
    await expect(emu.pushRawEvent({ schema: '2.0' }, { clientWaitMs: 200 })).rejects.toThrow(/no WS client/);
    emu.setSilent(false);
    const { acks } = await emu.pushMessage({ text: 'back' });
    expect(acks).toEqual([{ code: 200 }]);
  });

  it('echoes the bot’s own messages back with sender_type app when echoBotMessages is on', async () => {
    const senders: string[] = [];
    const { emu, bot } = await setup(
      { 'im.message.receive_v1': (d) => void senders.push(d.sender.sender_type) },
      { echoBotMessages: true },
    );
    const { chatId } = await emu.pushMessage({ text: 'hi' });
    await bot.client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: { receive_id: chatId, msg_type: 'text', content: JSON.stringify({ text: 'hello human' }) },
    });
    await emu.waitFor(() => senders.length === 2);
    expect(senders).toEqual(['user', 'app']);
    expect(emu.view(chatId).map((v) => [v.from, v.text])).toEqual([
      ['user', 'hi'],
      ['bot', 'hello human'],
    ]);
  });
});
