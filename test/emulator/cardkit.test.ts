// CardKit through the real SDK Client: entity create, send by card_id, streaming, sequence and rate rules.
import { afterEach, describe, expect, it } from 'vitest';
import { type FeishuEmulator, startFeishuEmulator } from '../support/feishu-emulator/index.js';
import { sdkClient } from './harness.js';

let emu: FeishuEmulator | undefined;

afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

const runCard = {
  schema: '2.0',
  config: { streaming_mode: true, summary: { content: '[working]' } },
  header: {
    title: { tag: 'plain_text', content: 'Run #1' },
    subtitle: { tag: 'plain_text', content: 'codex' },
  },
  body: {
    elements: [
      { tag: 'markdown', element_id: 'out', content: '' },
      {
        tag: 'collapsible_panel',
        element_id: 'tool_1',
        expanded: false,
        header: { title: { tag: 'markdown', content: '**Tool: bash**' } },
        elements: [{ tag: 'markdown', content: 'ls -la' }],
      },
      {
        tag: 'button',
        element_id: 'btn_stop',
        text: { tag: 'plain_text', content: 'Stop' },
        behaviors: [{ type: 'callback', value: { action: 'stop' } }],
      },
    ],
  },
};

async function setup(opts = {}) {
  emu = await startFeishuEmulator(opts);
  const client = sdkClient(emu);
  const { chatId } = emu.createChat({ mode: 'group' });
  const created = await client.cardkit.v1.card.create({
    data: { type: 'card_json', data: JSON.stringify(runCard) },
  });
  expect(created.code).toBe(0);
  const cardId = created.data!.card_id!;
  return { emu, client, chatId, cardId };
}

async function codeOf(
  fn: () => Promise<{ code?: number }>,
): Promise<{ status: number; code?: number; headers?: unknown }> {
  try {
    return { status: 200, code: (await fn()).code };
  } catch (error) {
    const response = (error as { response?: { status: number; data: { code: number }; headers: unknown } })
      .response;
    if (!response) throw error;
    return { status: response.status, code: response.data.code, headers: response.headers };
  }
}

describe('feishu emulator: CardKit', () => {
  it('streams element content into a card sent by card_id and the view shows it', async () => {
    const { emu, client, chatId, cardId } = await setup();
    const sent = await client.im.v1.message.create({
      params: { receive_id_type: 'chat_id' },
      data: {
        receive_id: chatId,
        msg_type: 'interactive',
        content: JSON.stringify({ type: 'card', data: { card_id: cardId } }),
      },
    });
    expect(sent.code).toBe(0);
    let sequence = 0;
    for (const full of ['Hel', 'Hello', 'Hello, world']) {
      const res = await client.cardkit.v1.cardElement.content({
        path: { card_id: cardId, element_id: 'out' },
        data: { content: full, sequence: ++sequence, uuid: `c_${cardId}_${sequence}` },
      });
      expect(res.code).toBe(0);
    }
    const view = emu.view(chatId);
    expect(view[0]!.text).toBe('Run #1\ncodex\nHello, world\n**Tool: bash**\nls -la\nStop');
    await client.cardkit.v1.card.settings({
      path: { card_id: cardId },
      data: { settings: JSON.stringify({ config: { streaming_mode: false } }), sequence: ++sequence },
    });
    expect(emu.cards[cardId]).toMatchObject({ streamingMode: false, sequence: 4 });
    // Content while streaming is off: 300309.
    const closed = await codeOf(() =>
      client.cardkit.v1.cardElement.content({
        path: { card_id: cardId, element_id: 'out' },
        data: { content: 'late', sequence: ++sequence },
      }),
    );
    expect(closed.code).toBe(300309);
    // Full update replaces the live entity the message shows.
    await client.cardkit.v1.card.update({
      path: { card_id: cardId },
      data: {
        card: {
          type: 'card_json',
          data: JSON.stringify({
            schema: '2.0',
            body: { elements: [{ tag: 'markdown', content: 'Done.' }] },
          }),
        },
        sequence: ++sequence,
      },
    });
    expect(emu.view(chatId)[0]!.text).toBe('Done.');
    // An entity may be sent only once.
    const resend = await codeOf(() =>
      client.im.v1.message.create({
        params: { receive_id_type: 'chat_id' },
        data: {
          receive_id: chatId,
          msg_type: 'interactive',
          content: JSON.stringify({ type: 'card', data: { card_id: cardId } }),
        },
      }),
    );
    expect(resend.code).toBe(230099);
  });

  it('rejects a stale sequence with 300317 and records card_sequence', async () => {
    const { emu, client, cardId } = await setup();
    const put = (sequence: number) =>
      codeOf(() =>
        client.cardkit.v1.cardElement.content({
          path: { card_id: cardId, element_id: 'out' },
          data: { content: `s${sequence}`, sequence },
        }),
      );
    expect((await put(2)).code).toBe(0);
    expect((await put(2)).code).toBe(300317);
    expect((await put(1)).code).toBe(300317);
    expect((await put(3)).code).toBe(0);
    expect(emu.violations.map((v) => v.kind)).toEqual(['card_sequence', 'card_sequence']);
  });

  it('answers more than 10 ops per second on one card with HTTP 429 99991400 and the reset header', async () => {
    const { emu, client, cardId } = await setup();
    const results = [];
    for (let sequence = 1; sequence <= 11; sequence++) {
      results.push(
        await codeOf(() =>
          client.cardkit.v1.cardElement.content({
            path: { card_id: cardId, element_id: 'out' },
            data: { content: 'x'.repeat(sequence), sequence },
          }),
        ),
      );
    }
    expect(results.slice(0, 10).every((r) => r.code === 0)).toBe(true);
    expect(results[10]).toMatchObject({ status: 429, code: 99991400 });
    expect((results[10]!.headers as Record<string, string>)['x-ogw-ratelimit-reset']).toBe('1');
    expect(emu.violations.map((v) => v.kind)).toEqual(['card_ops_rate']);
  });

  it('enforces entity size, component count, tables and the streaming timeout', async () => {
    const { emu, client, cardId } = await setup({ streamingTimeoutMs: 150 });
    const tooMany = await codeOf(() =>
      client.cardkit.v1.card.create({
        data: {
          type: 'card_json',
          data: JSON.stringify({
            schema: '2.0',
            body: { elements: Array.from({ length: 201 }, () => ({ tag: 'markdown', content: 'x' })) },
          }),
        },
      }),
    );
    expect(tooMany.code).toBe(300305);
    const huge = await codeOf(() =>
      client.cardkit.v1.cardElement.content({
        path: { card_id: cardId, element_id: 'out' },
        data: { content: 'y'.repeat(31 * 1024), sequence: 1 },
      }),
    );
    expect(huge.code).toBe(200860);
    const table = '| a | b |\n|---|---|\n| 1 | 2 |\n\n';
    const tables = await codeOf(() =>
      client.cardkit.v1.cardElement.content({
        path: { card_id: cardId, element_id: 'out' },
        data: { content: table.repeat(4), sequence: 2 },
      }),
    );
    expect(tables.code).toBe(230099);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const timedOut = await codeOf(() =>
      client.cardkit.v1.cardElement.content({
        path: { card_id: cardId, element_id: 'out' },
        data: { content: 'late', sequence: 3 },
      }),
    );
    expect(timedOut.code).toBe(200850);
    expect(emu.violations.map((v) => v.kind)).toEqual([
      'card_elements',
      'card_size',
      'card_tables',
      'streaming_timeout',
    ]);
  });
});
