import { mkdirSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditFileSync } from '../../src/audit/audit-log.js';
import { FINAL_HEADER } from '../support/cards.js';
import {
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  startFeishuEmulator,
  waitFor,
} from '../support/feishu-emulator/index.js';
import { type InProcessLarkcode, startLarkcode } from '../support/larkcode-harness.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

const MEMBER = 'ou_member000000000000000000000001';
const NEWCOMER = 'ou_newcomer0000000000000000000001';

/** The command surface end to end: real node-sdk, emulator, scripted agent. */
describe('commands and who may use them', () => {
  let emulator: FeishuEmulator;
  let larkcode: InProcessLarkcode;
  let agent: ScriptedAgent;
  let projects: string;
  const threads = new Map<unknown, string>();

  beforeAll(async () => {
    emulator = await startFeishuEmulator();
    agent = new ScriptedAgent();
    projects = realpathSync(mkdtempSync(join(tmpdir(), 'larkcode-projects-')));
    mkdirSync(join(projects, 'api'));
    mkdirSync(join(projects, 'web'));
    larkcode = await startLarkcode({
      emulator,
      agent,
      config: { allowlist: [MEMBER], runs: { debounceMs: 20 } },
    });
  });
  afterAll(async () => {
    await larkcode?.stop();
    await emulator?.close();
  });

  const send = async (chatId: string, text: string, from = DEFAULT_USER_OPEN_ID, extra = {}) =>
    emulator.pushMessage({ chatId, text, senderOpenId: from, ...extra });
  const answerTo = (chatId: string, messageId: string) =>
    waitFor(() => emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === messageId), {
      timeoutMs: 5000,
    });
  const audit = () => readAuditFileSync(join(larkcode.home, 'state', 'audit.jsonl')).records;
  const finishRun = async (chatId: string, messageId: string, text = 'ok') => {
    await waitFor(() => agent.live().length > 0, { timeoutMs: 5000 });
    const run = agent.current;
    const threadId = run.request.sessionId ?? `thread-${agent.runs.length}`;
    threads.set(run, threadId);
    run.push({ type: 'session', sessionId: threadId });
    run.push({ type: 'text', itemId: 'm', text, mode: 'whole' });
    run.finish();
    await waitFor(
      () =>
        emulator
          .view(chatId)
          .find((m) => m.from === 'bot' && m.parentId === messageId && FINAL_HEADER.test(m.text)),
      { timeoutMs: 5000 },
    );
    return run;
  };

  it('/help shows each person only what they may use', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const owner = await send(chatId, '/help');
    expect((await answerTo(chatId, owner.messageId)).text).toMatch(/Admin[\s\S]*\/invite/);
    const member = await send(chatId, '/help', MEMBER);
    const text = (await answerTo(chatId, member.messageId)).text;
    expect(text).toContain('/status');
    expect(text).not.toContain('/invite');
    expect(text).toContain('for admins only');
  });

  it('refuses an admin command to a member, and the audit says why', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await send(chatId, `/cd ${projects}/api`, MEMBER);
    expect((await answerTo(chatId, sent.messageId)).text).toContain('/cd is for admins');
    await waitFor(
      () => audit().find((r) => r.actor === MEMBER && r.action === 'command./cd' && r.decision === 'denied'),
      { timeoutMs: 3000 },
    );
  });

  it('refuses every admin command to a member with one clear line, and audits why', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const adminOnly = [
      '/cd /tmp',
      '/ws',
      '/invite user @_user_1',
      '/remove user @_user_1',
      '/config',
      '/doctor',
      '/ps',
      '/exit',
      '/reconnect',
    ];
    for (const command of adminOnly) {
      const sent = await send(
        chatId,
        command,
        MEMBER,
        command.includes('@_user_1') ? { mentions: [{ openId: NEWCOMER, name: 'N' }] } : {},
      );
      const name = command.split(' ')[0]!;
      expect((await answerTo(chatId, sent.messageId)).text, command).toContain(`${name} is for admins`);
      await waitFor(
        () =>
          audit().find(
            (r) =>
              r.actor === MEMBER &&
              r.action === `command.${name}` &&
              r.decision === 'denied' &&
              /needs an admin/.test(r.reason ?? ''),
          ),
        { timeoutMs: 3000 },
      );
    }
    expect(
      larkcode.logs.some((l) => l.msg === 'shutting down'),
      '/exit from a member did nothing',
    ).toBe(false);
  });

  it('/reset gives a fresh session in the default workspace and access; /list is /sessions', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const cd = await send(chatId, `/ws add reset-me ${projects}/api`);
    await answerTo(chatId, cd.messageId);
    const use = await send(chatId, '/ws use reset-me');
    expect((await answerTo(chatId, use.messageId)).text).toContain(`${projects}/api`);
    const first = await send(chatId, 'work in api');
    expect((await finishRun(chatId, first.messageId)).request.workspace).toBe(`${projects}/api`);
    const reset = await send(chatId, '/reset');
    expect((await answerTo(chatId, reset.messageId)).text).toContain(
      `Reset: a fresh session in ${larkcode.workspace}`,
    );
    const next = await send(chatId, 'where am I?');
    const run = await finishRun(chatId, next.messageId);
    expect(run.request.workspace).toBe(larkcode.workspace);
    expect(run.request.sessionId).toBeUndefined();
    const list = await send(chatId, '/list');
    expect((await answerTo(chatId, list.messageId)).text).toContain('work in api');
  });

  it('/cd asks to confirm; confirming with another access starts a new session and says so', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const first = await send(chatId, 'hello');
    const firstRun = await finishRun(chatId, first.messageId);
    expect(firstRun.request.sandbox).toBe('workspace-write');

    const cd = await send(chatId, `/cd ${projects}/api/`);
    const card = await answerTo(chatId, cd.messageId);
    expect(card.text).toContain(`${projects}/api`);
    const stored = emulator.messages(chatId).find((m) => m.messageId === card.messageId)!;
    const buttons = JSON.parse(stored.content).body.elements.filter(
      (e: { tag: string }) => e.tag === 'button',
    );
    const readOnly = buttons.find((b: { text: { content: string } }) => b.text.content.includes('read-only'));
    expect(readOnly).toBeDefined();
    const clicked = await emulator.pushCardAction({
      messageId: card.messageId,
      value: readOnly.behaviors[0].value,
      operatorOpenId: DEFAULT_USER_OPEN_ID,
    });
    expect(JSON.stringify(clicked.acks)).toContain('Workspace set to');
    await waitFor(
      () =>
        emulator
          .view(chatId)
          .find((m) => m.from === 'bot' && /next message starts a new Codex session/.test(m.text)),
      {
        timeoutMs: 3000,
      },
    );

    const second = await send(chatId, 'and now?');
    const secondRun = await finishRun(chatId, second.messageId);
    expect(secondRun.request.workspace).toBe(`${projects}/api`);
    expect(secondRun.request.sandbox).toBe('read-only');
    expect(secondRun.request.sessionId, 'a changed policy never resumes the old thread').toBeUndefined();
    // The same button again: refused.
    const again = await emulator.pushCardAction({
      messageId: card.messageId,
      value: readOnly.behaviors[0].value,
    });
    expect(JSON.stringify(again.acks)).toMatch(/already used|changed since/);
  });

  it('/ws adds, lists, uses and removes named workspaces; bad paths are refused', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const add = await send(chatId, `/ws add web ${projects}/web`);
    expect((await answerTo(chatId, add.messageId)).text).toContain('Added workspace web');
    const bad = await send(chatId, '/ws add etc /etc');
    expect((await answerTo(chatId, bad.messageId)).text).toMatch(/system directory|refus|not allowed/i);
    const list = await send(chatId, '/ws');
    expect((await answerTo(chatId, list.messageId)).text).toContain(`web → ${projects}/web`);
    const use = await send(chatId, '/ws use web');
    expect((await answerTo(chatId, use.messageId)).text).toContain(`Workspace is now ${projects}/web`);
    const run = await send(chatId, 'build it');
    expect((await finishRun(chatId, run.messageId)).request.workspace).toBe(`${projects}/web`);
    const rm = await send(chatId, '/ws rm web');
    expect((await answerTo(chatId, rm.messageId)).text).toContain('Removed workspace web');
  });

  it('/sessions lists this chat’s sessions and /switch continues one', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const one = await send(chatId, 'first topic');
    const firstRun = await finishRun(chatId, one.messageId);
    const fresh = await send(chatId, '/new second topic');
    const secondRun = await finishRun(chatId, fresh.messageId);
    expect(secondRun.request.sessionId).toBeUndefined();
    const list = await send(chatId, '/sessions');
    const listed = (await answerTo(chatId, list.messageId)).text;
    expect(listed).toContain('first topic');
    expect(listed).toContain('second topic');
    const switched = await send(chatId, '/switch 2');
    expect((await answerTo(chatId, switched.messageId)).text).toContain('Continuing session "first topic"');
    const next = await send(chatId, 'back to the first');
    const resumed = await finishRun(chatId, next.messageId);
    expect(resumed.request.sessionId).toBe(threads.get(firstRun));
    expect(threads.get(firstRun)).not.toBe(threads.get(secondRun));
    const bad = await send(chatId, '/switch 9');
    expect((await answerTo(chatId, bad.messageId)).text).toContain('There is no session 9');
  });

  it('/status shows workspace, access, agent, session, run and queue, connection', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await send(chatId, '/status');
    const text = (await answerTo(chatId, sent.messageId)).text;
    for (const part of ['Workspace:', 'Access:', 'Agent:', 'Session:', 'Run:', 'Connection to Feishu:']) {
      expect(text).toContain(part);
    }
  });

  it('/invite user lets someone in, /remove user takes it back; strangers get silence', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const before = await send(chatId, 'can I?', NEWCOMER);
    const invite = await send(chatId, '/invite user @_user_1', DEFAULT_USER_OPEN_ID, {
      mentions: [{ openId: NEWCOMER, name: 'Newcomer' }],
    });
    expect((await answerTo(chatId, invite.messageId)).text).toContain('may now use the bot as user');
    expect(
      emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === before.messageId),
    ).toBeUndefined();
    const help = await send(chatId, '/help', NEWCOMER);
    expect((await answerTo(chatId, help.messageId)).text).toContain('/status');
    const remove = await send(chatId, '/remove user @_user_1', DEFAULT_USER_OPEN_ID, {
      mentions: [{ openId: NEWCOMER, name: 'Newcomer' }],
    });
    expect((await answerTo(chatId, remove.messageId)).text).toContain('Removed user');
    const after = await send(chatId, '/help', NEWCOMER);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === after.messageId),
    ).toBeUndefined();
    const member = await send(chatId, '/invite user @_user_1', MEMBER, {
      mentions: [{ openId: NEWCOMER, name: 'x' }],
    });
    expect((await answerTo(chatId, member.messageId)).text).toContain('/invite is for admins');
  });

  it('an unknown /command goes to the agent as text; /ps lists runs; /doctor checks', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const custom = await send(chatId, '/review the diff');
    await waitFor(() => agent.live().length > 0, { timeoutMs: 5000 });
    expect(agent.current.request.prompt).toContain('/review the diff');
    const ps = await send(chatId, '/ps');
    expect((await answerTo(chatId, ps.messageId)).text).toMatch(/1 run:\n• chat:/);
    agent.current.finish();
    await answerTo(chatId, custom.messageId);
    const doctor = await send(chatId, '/doctor');
    const text = (await answerTo(chatId, doctor.messageId)).text;
    expect(text).toContain('✅ Feishu credentials and bot');
    expect(text).toContain('State directory');
  });

  it('/invite admin is the owner’s; an admin may then use admin commands; /invite group lets a whole group in', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const byMember = await send(chatId, '/invite admin @_user_1', MEMBER, {
      mentions: [{ openId: NEWCOMER, name: 'N' }],
    });
    expect((await answerTo(chatId, byMember.messageId)).text).toContain('/invite is for admins');
    const byOwner = await send(chatId, '/invite admin @_user_1', DEFAULT_USER_OPEN_ID, {
      mentions: [{ openId: NEWCOMER, name: 'N' }],
    });
    expect((await answerTo(chatId, byOwner.messageId)).text).toContain('may now use the bot as admin');
    const ps = await send(chatId, '/ps', NEWCOMER);
    expect((await answerTo(chatId, ps.messageId)).text).not.toContain('is for admins');
    // An admin still cannot make admins.
    const adminGrant = await send(chatId, '/invite admin @_user_1', NEWCOMER, {
      mentions: [{ openId: MEMBER, name: 'M' }],
    });
    expect((await answerTo(chatId, adminGrant.messageId)).text).toContain('Only the owner');
    const demote = await send(chatId, '/remove admin @_user_1', DEFAULT_USER_OPEN_ID, {
      mentions: [{ openId: NEWCOMER, name: 'N' }],
    });
    expect((await answerTo(chatId, demote.messageId)).text).toContain('Removed admin');

    const group = emulator.createChat({ mode: 'group' });
    const outsider = 'ou_outsider000000000000000000001';
    const before = await send(group.chatId, '/status', outsider, { chatType: 'group', mentionBot: true });
    const invite = await send(group.chatId, '/invite group', DEFAULT_USER_OPEN_ID, {
      chatType: 'group',
      mentionBot: true,
    });
    expect((await answerTo(group.chatId, invite.messageId)).text).toContain(
      'Everyone in this group may now use the bot',
    );
    const after = await send(group.chatId, '/status', outsider, { chatType: 'group', mentionBot: true });
    expect((await answerTo(group.chatId, after.messageId)).text).toContain('Workspace:');
    expect(
      emulator.view(group.chatId).find((m) => m.from === 'bot' && m.parentId === before.messageId),
    ).toBeUndefined();
    const removeGroup = await send(group.chatId, '/remove group', DEFAULT_USER_OPEN_ID, {
      chatType: 'group',
      mentionBot: true,
    });
    expect((await answerTo(group.chatId, removeGroup.messageId)).text).toContain('may no longer use the bot');
    expect(audit().filter((r) => r.action === 'command./invite').length).toBeGreaterThanOrEqual(3);
  });

  it('/reconnect opens a fresh long connection', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const before = emulator.state.acks.length;
    const sent = await send(chatId, '/reconnect');
    expect((await answerTo(chatId, sent.messageId)).text).toContain('Reconnecting');
    await waitFor(() => larkcode.logs.some((l) => l.msg === 'feishu long connection re-established'), {
      timeoutMs: 10_000,
    });
    const after = await send(chatId, '/status');
    expect((await answerTo(chatId, after.messageId)).text).toContain('Connection to Feishu');
    expect(emulator.state.acks.length).toBeGreaterThan(before);
  });

  it('/config is a card: a new default access reaches the next run (a new thread), a group can drop the mention rule', async () => {
    const buttonsOf = (messageId: string, chatId: string) => {
      const stored = emulator.messages(chatId).find((m) => m.messageId === messageId)!;
      const found: { text: { content: string }; behaviors: { value: object }[] }[] = [];
      JSON.stringify(JSON.parse(stored.content), (_k, v) => {
        if (v && typeof v === 'object' && (v as { tag?: string }).tag === 'button') found.push(v);
        return v;
      });
      return found;
    };
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const first = await send(chatId, 'before the change');
    const before = await finishRun(chatId, first.messageId);
    expect(before.request.sandbox).toBe('workspace-write');

    const member = await send(chatId, '/config', MEMBER);
    expect((await answerTo(chatId, member.messageId)).text).toContain('/config is for admins');
    const config = await send(chatId, '/config');
    const card = await answerTo(chatId, config.messageId);
    expect(card.text).toContain('Default access');
    const readOnly = buttonsOf(card.messageId, chatId).find((b) => b.text.content === 'read-only')!;
    // Another chat is busy when the default changes: it gets the change once its run is over.
    const busy = emulator.createChat({ mode: 'p2p' });
    const busyFirst = await send(busy.chatId, 'long job');
    await waitFor(() => agent.live().length > 0, { timeoutMs: 5000 });
    const busyRun = agent.current;
    const pressed = await emulator.pushCardAction({
      messageId: card.messageId,
      value: readOnly.behaviors[0]!.value,
    });
    expect(JSON.stringify(pressed.acks)).toContain('defaultAccess set to read-only');
    busyRun.push({ type: 'session', sessionId: 'thread-busy' });
    busyRun.finish();
    await answerTo(busy.chatId, busyFirst.messageId);
    const busyNext = await send(busy.chatId, 'next job');
    const busyNextRun = await finishRun(busy.chatId, busyNext.messageId);
    expect(busyNextRun.request.sandbox).toBe('read-only');
    expect(busyNextRun.request.sessionId).toBeUndefined();

    const after = await send(chatId, 'after the change');
    const run = await finishRun(chatId, after.messageId);
    expect(run.request.sandbox).toBe('read-only');
    expect(run.request.sessionId, 'the thread made with workspace access is not resumed').toBeUndefined();
    await waitFor(
      () => audit().find((r) => r.action === 'policy.change' && r.detail?.setting === 'defaultAccess'),
      {
        timeoutMs: 3000,
      },
    );

    // A group: the bot answers unmentioned messages once the group's rule is off.
    const group = emulator.createChat({ mode: 'group' });
    const quiet = await send(group.chatId, 'unmentioned', DEFAULT_USER_OPEN_ID, { chatType: 'group' });
    const groupConfig = await send(group.chatId, '/config', DEFAULT_USER_OPEN_ID, {
      chatType: 'group',
      mentionBot: true,
    });
    const groupCard = await answerTo(group.chatId, groupConfig.messageId);
    const off = buttonsOf(groupCard.messageId, group.chatId).find((b) => b.text.content === 'no')!;
    await emulator.pushCardAction({ messageId: groupCard.messageId, value: off.behaviors[0]!.value });
    const now = await send(group.chatId, 'unmentioned again', DEFAULT_USER_OPEN_ID, { chatType: 'group' });
    await waitFor(() => agent.live().length > 0, { timeoutMs: 5000 });
    expect(agent.current.request.prompt).toContain('unmentioned again');
    expect(agent.current.request.prompt).not.toContain('unmentioned\n');
    agent.current.finish();
    await answerTo(group.chatId, now.messageId);
    expect(
      emulator.view(group.chatId).find((m) => m.from === 'bot' && m.parentId === quiet.messageId),
    ).toBeUndefined();
  });
});

describe('strangers', () => {
  it('get one polite line in a private chat when the profile asks for it, then silence', async () => {
    const emulator = await startFeishuEmulator();
    const larkcode = await startLarkcode({
      emulator,
      agent: new ScriptedAgent(),
      config: { strangers: { replyOnce: true } },
    });
    try {
      const { chatId } = emulator.createChat({ mode: 'p2p' });
      const first = await emulator.pushMessage({ chatId, text: 'hi', senderOpenId: NEWCOMER });
      const line = await waitFor(
        () => emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === first.messageId),
        { timeoutMs: 3000 },
      );
      expect(line.text).toContain('Ask them to /invite you');
      const second = await emulator.pushMessage({ chatId, text: 'hello?', senderOpenId: NEWCOMER });
      // The owner's next message is answered, so the stranger's second one has been handled.
      const owner = await emulator.pushMessage({ chatId, text: '/status' });
      await waitFor(
        () => emulator.view(chatId).find((m) => m.from === 'bot' && m.parentId === owner.messageId),
        {
          timeoutMs: 3000,
        },
      );
      expect(
        emulator.view(chatId).filter((m) => m.from === 'bot' && m.parentId === second.messageId),
      ).toHaveLength(0);
    } finally {
      await larkcode.stop();
      await emulator.close();
    }
  });
});
