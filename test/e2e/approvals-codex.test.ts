import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import type { CallbackValue } from '../../src/security/callback-token.js';
import { FINAL_HEADER } from '../support/cards.js';
import { DEFAULT_USER_OPEN_ID, type FeishuEmulator, waitFor } from '../support/feishu-emulator/index.js';
import { type CodexStack, type InProcessLarkcode, startCodexStack } from '../support/larkcode-harness.js';
import type { MockModel } from '../support/mock-model/index.js';
import { codexProcessesFor, descendantsNamed } from '../support/process-tree.js';

/** Allowlisted, not an admin. */
const MEMBER = 'ou_member00000000000000000000000b0b';
/** Also allowlisted, also not an admin. */
const OTHER_MEMBER = 'ou_member00000000000000000000000ca7';
const OWNER = DEFAULT_USER_OPEN_ID;

type Json = Record<string, unknown>;

/** Every signed callback value on a card, by its action (`approve`, `deny`, `always`, `answer`). */
function buttonsOf(card: unknown): CallbackValue[] {
  const found: CallbackValue[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Json;
    if (record.tag === 'button') {
      const behavior = (record.behaviors as { type?: string; value?: unknown }[] | undefined)?.[0];
      if (behavior?.type === 'callback') found.push(behavior.value as CallbackValue);
    }
    for (const value of Object.values(record)) walk(value);
  };
  walk(card);
  return found;
}

/**
 * Approvals, questions, steering and stopping on `codex.backend: app-server`: the real codex
 * app-server asks (the mock model makes it escalate a command or call request_user_input),
 * larkcode posts signed cards through the real node-sdk, and the emulator clicks them.
 */
describe('approval cards, questions and steering on the real codex app-server', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let larkcode: InProcessLarkcode;
  let stack: CodexStack;
  let outside: string;
  let codexHome: string;

  beforeAll(async () => {
    stack = await startCodexStack({
      cardFlushIntervalMs: 150,
      codexBackend: 'app-server',
      config: {
        runs: { debounceMs: 50 },
        allowlist: [MEMBER, OTHER_MEMBER],
        approvals: { timeoutSec: 6, remindBeforeSec: 4, twoPersonInGroups: true },
        questions: { timeoutSec: 30 },
        health: { enabled: true, port: 0 },
      },
    });
    ({ emulator, mock, larkcode } = stack);
    outside = realpathSync(mkdtempSync(join(tmpdir(), 'larkcode-outside-')));
    codexHome = resolvePaths({ LARKCODE_HOME: larkcode.home }).defaultCodexHome;
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(outside, { recursive: true, force: true });
  });

  const botCards = (chatId: string, parentId: string) =>
    emulator
      .view(chatId)
      .filter((m) => m.from === 'bot' && m.msgType === 'interactive' && m.parentId === parentId);
  /**
   * The card larkcode posted to ask for approval (or an answer) about this message: the one with
   * approve (or answer) buttons — the run card's header says "❓ Waiting…" too, with a Stop button.
   */
  const askCard = (chatId: string, parentId: string, title: RegExp) =>
    waitFor(
      () => {
        const action = title.source.includes('❓') ? 'answer' : 'approve';
        const card = botCards(chatId, parentId).find(
          (m) => title.test(m.text.split('\n')[0] ?? '') && buttonsOf(m.card).some((v) => v.a === action),
        );
        return card;
      },
      { timeoutMs: 20_000 },
    );
  const runCard = (chatId: string, parentId: string) =>
    botCards(chatId, parentId).find((m) => !/Approval|Question|❓/.test(m.text.split('\n')[0] ?? ''));
  const finalCard = (chatId: string, parentId: string) =>
    waitFor(
      () => {
        const card = botCards(chatId, parentId).find((m) => FINAL_HEADER.test(m.text));
        return card;
      },
      { timeoutMs: 25_000 },
    );
  const press = async (messageId: string, value: CallbackValue, operatorOpenId = OWNER) => {
    const click = await emulator.pushCardAction({ messageId, value, operatorOpenId });
    return click.acks[0]?.data as { toast?: { type: string; content: string } } | undefined;
  };
  const approvalAudits = () => larkcode.logs.filter((l) => String(l.audit ?? '').startsWith('approval.'));

  it('Approve: the command runs outside the sandbox, the card records who approved, the run finishes', async () => {
    const target = join(outside, 'approved.txt');
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: `[[escalate: echo approved > ${target}]]` });
    const ask = await askCard(chatId, sent.messageId, /Approval needed/);
    expect(ask.text).toContain(`echo approved > ${target}`);
    expect(ask.text).toContain('outside the sandbox');
    // The run card says what it waits for.
    await waitFor(() => runCard(chatId, sent.messageId)?.text.includes('Waiting for approval'), {
      timeoutMs: 10_000,
    });
    // /status says what the run waits for.
    const status = await emulator.pushMessage({ chatId, text: '/status' });
    const statusCard = await waitFor(() => botCards(chatId, status.messageId)[0], { timeoutMs: 10_000 });
    expect(statusCard.text).toContain('Waiting for you:** 1 approval');
    const approve = buttonsOf(ask.card).find((v) => v.a === 'approve')!;
    expect(await press(ask.messageId, approve)).toEqual({ toast: { type: 'success', content: 'Approved.' } });
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('✅ Done');
    expect(readFileSync(target, 'utf8').trim()).toBe('approved');
    await waitFor(() =>
      emulator
        .view(chatId)
        .find((m) => m.messageId === ask.messageId)
        ?.text.includes('Approved'),
    );
    expect(buttonsOf(emulator.view(chatId).find((m) => m.messageId === ask.messageId)?.card)).toEqual([]);
    expect(approvalAudits().some((l) => l.decision === 'allowed' && l.actor === OWNER)).toBe(true);
    // A second press of the same button changes nothing.
    expect((await press(ask.messageId, approve))?.toast?.type).toBe('info');
  });

  it('Deny: the command never runs and the agent is told it was rejected', async () => {
    const target = join(outside, 'denied.txt');
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: `[[escalate: echo denied > ${target}]]` });
    const ask = await askCard(chatId, sent.messageId, /Approval needed/);
    const deny = buttonsOf(ask.card).find((v) => v.a === 'deny')!;
    expect((await press(ask.messageId, deny))?.toast?.type).toBe('success');
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('not allowed:');
    expect(existsSync(target)).toBe(false);
    expect(mock.requests.some((r) => r.toolOutputs.some((o) => o.output.includes('rejected by user')))).toBe(
      true,
    );
    expect(
      approvalAudits().some((l) => l.decision === 'denied' && String(l.reason).includes('denied by')),
    ).toBe(true);
  });

  it('timeout: a reminder first, then denied; the agent is told', async () => {
    const target = join(outside, 'expired.txt');
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: `[[escalate: echo late > ${target}]]` });
    const ask = await askCard(chatId, sent.messageId, /Approval needed/);
    const reminder = await waitFor(
      () =>
        emulator.view(chatId).find((m) => m.from === 'bot' && m.text.includes('Still waiting for approval')),
      { timeoutMs: 10_000 },
    );
    // The reminder comes while the request is still open.
    expect(emulator.view(chatId).find((m) => m.messageId === ask.messageId)?.text).not.toMatch(/Expired/);
    expect(reminder.parentId).toBe(ask.messageId);
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('not allowed:');
    expect(existsSync(target)).toBe(false);
    const expired = emulator.view(chatId).find((m) => m.messageId === ask.messageId);
    expect(expired?.text).toMatch(/Expired/);
    expect(buttonsOf(expired?.card)).toEqual([]);
  });

  it('refuses a forged button and a click by someone who may not approve; the request stays open', async () => {
    const target = join(outside, 'guarded.txt');
    const { chatId } = emulator.createChat({ mode: 'group' });
    const sent = await emulator.pushMessage({
      chatId,
      text: `[[escalate: echo guarded > ${target}]]`,
      senderOpenId: MEMBER,
      mentionBot: true,
    });
    const ask = await askCard(chatId, sent.messageId, /Approval needed/);
    const approve = buttonsOf(ask.card).find((v) => v.a === 'approve')!;
    const forged = { ...approve, g: `${approve.g}x` };
    expect((await press(ask.messageId, forged))?.toast).toMatchObject({ type: 'error' });
    // Running outside the sandbox is the owner's call: the member who asked may not approve it.
    const byRequester = await press(ask.messageId, approve, MEMBER);
    expect(byRequester?.toast?.type).toBe('error');
    expect(byRequester?.toast?.content).toMatch(/owner/i);
    const byOther = await press(ask.messageId, approve, OTHER_MEMBER);
    expect(byOther?.toast?.type).toBe('error');
    expect(existsSync(target)).toBe(false);
    // The owner, someone other than the requester, may.
    expect((await press(ask.messageId, approve, OWNER))?.toast?.type).toBe('success');
    await finalCard(chatId, sent.messageId);
    expect(readFileSync(target, 'utf8').trim()).toBe('guarded');
  });

  it('two-person rule in a group: the owner cannot approve their own dangerous request', async () => {
    const target = join(outside, 'two-person.txt');
    const { chatId } = emulator.createChat({ mode: 'group' });
    const sent = await emulator.pushMessage({
      chatId,
      text: `[[escalate: echo self > ${target}]]`,
      mentionBot: true,
    });
    const ask = await askCard(chatId, sent.messageId, /Approval needed/);
    expect(ask.text).toMatch(/other than the requester/);
    const approve = buttonsOf(ask.card).find((v) => v.a === 'approve')!;
    const own = await press(ask.messageId, approve, OWNER);
    expect(own?.toast?.type).toBe('error');
    expect(own?.toast?.content).toMatch(/Two-person/i);
    // The requester may still say no.
    const deny = buttonsOf(ask.card).find((v) => v.a === 'deny')!;
    expect((await press(ask.messageId, deny, OWNER))?.toast?.type).toBe('success');
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('not allowed:');
    expect(existsSync(target)).toBe(false);
  });

  it('a question card: an option button answers it and the agent continues with the choice', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: '[[ask: Which database? | Postgres | SQLite]]' });
    const question = await askCard(chatId, sent.messageId, /❓/);
    expect(question.text).toContain('Which database?');
    const sqlite = buttonsOf(question.card).find((v) => v.a === 'answer' && v.g?.endsWith(':0:1'))!;
    expect((await press(question.messageId, sqlite))?.toast).toMatchObject({ type: 'success' });
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('you chose: SQLite');
  });

  it('a question answered by typing the option number', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: '[[ask: Which database? | Postgres | SQLite]]' });
    await askCard(chatId, sent.messageId, /❓/);
    await emulator.pushMessage({ chatId, text: '1' });
    const done = await finalCard(chatId, sent.messageId);
    expect(done.text).toContain('you chose: Postgres');
  });

  it('steer: a message sent during the run reaches the running turn, and the card shows it', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: 'first [[slow:4000]]' });
    const before = mock.requests.length;
    await waitFor(() => mock.requests.length > before && runCard(chatId, sent.messageId), {
      timeoutMs: 15_000,
    });
    const steer = await emulator.pushMessage({ chatId, text: 'also mention bananas' });
    const done = await finalCard(chatId, sent.messageId);
    // One run: the steer joined it (no card of its own), the model saw it in this turn.
    expect(botCards(chatId, steer.messageId)).toEqual([]);
    expect(done.text).toContain('added during the run');
    expect(done.text).toContain('also mention bananas');
    expect(done.text).toContain('ok: also mention bananas');
    expect(mock.requests.some((r) => r.lastUserText?.includes('also mention bananas'))).toBe(true);
  });

  it('Stop also ends the command the turn was running (it would outlive turn/interrupt)', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: '[[shell: sleep 27.5]]' });
    const sleeping = () => codexProcessesFor(codexHome).flatMap((pid) => descendantsNamed(pid, 'sleep'));
    await waitFor(() => sleeping().length > 0, { timeoutMs: 15_000 });
    await emulator.pushMessage({ chatId, text: '/stop' });
    const stopped = await finalCard(chatId, sent.messageId);
    expect(stopped.text).toContain('Interrupted');
    await waitFor(() => sleeping().length === 0, { timeoutMs: 5_000 });
    // The app-server itself stays up for the next turn.
    expect(codexProcessesFor(codexHome).length).toBeGreaterThan(0);
  });

  it('Stop interrupts the turn; killing the app-server fails the run clearly and the next message resumes the thread', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({ chatId, text: 'remember the word kiwi [[hang]]' });
    await waitFor(() => runCard(chatId, sent.messageId), { timeoutMs: 15_000 });
    const before = mock.requests.length;
    await waitFor(() => mock.requests.some((r) => r.lastUserText?.includes('kiwi')), { timeoutMs: 15_000 });
    const stopAt = Date.now();
    await emulator.pushMessage({ chatId, text: '/stop' });
    const stopped = await finalCard(chatId, sent.messageId);
    console.log(`[approvals-codex] /stop → interrupted card in ${Date.now() - stopAt} ms`);
    expect(stopped.text).toContain('Interrupted');
    expect(mock.requests.length).toBeGreaterThan(before - 1);

    const second = await emulator.pushMessage({ chatId, text: 'now hang again [[hang]]' });
    await waitFor(() => mock.requests.some((r) => r.lastUserText?.includes('now hang again')), {
      timeoutMs: 15_000,
    });
    const pids = codexProcessesFor(codexHome);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const failed = await finalCard(chatId, second.messageId);
    expect(failed.text).toContain('Failed');
    expect(failed.text).toMatch(/app-server/);

    const third = await emulator.pushMessage({ chatId, text: 'what word did I ask you to remember?' });
    const answered = await finalCard(chatId, third.messageId);
    expect(answered.text).toContain('✅ Done');
    // The resumed thread carries the earlier turns to the model.
    const last = mock.requests.findLast((r) => r.lastUserText?.includes('what word'));
    expect(JSON.stringify(last?.body)).toContain('remember the word kiwi');
  });

  it('/fork continues in a copy that carries the history; /archive puts the session away', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const first = await emulator.pushMessage({ chatId, text: 'remember the word mango' });
    await finalCard(chatId, first.messageId);
    const original = (
      larkcode.logs.find((l) => l.audit === 'run.start' && l.scopeId === `chat:${chatId}`) as
        | { detail?: { threadId?: string } }
        | undefined
    )?.detail?.threadId;
    expect(original).toBeTruthy();

    await emulator.pushMessage({ chatId, text: '/fork' });
    await waitFor(() => emulator.view(chatId).find((m) => m.from === 'bot' && m.text.startsWith('Forked')), {
      timeoutMs: 10_000,
    });
    const second = await emulator.pushMessage({ chatId, text: 'which fruit was it?' });
    await finalCard(chatId, second.messageId);
    const forkedRequest = mock.requests.findLast((r) => r.lastUserText?.includes('which fruit'));
    expect(JSON.stringify(forkedRequest?.body)).toContain('remember the word mango');
    const threads = larkcode.logs
      .filter((l) => l.audit === 'run.start' && l.scopeId === `chat:${chatId}`)
      .map((l) => (l as { detail?: { threadId?: string } }).detail?.threadId);
    expect(new Set(threads).size, 'the fork is a thread of its own').toBe(2);

    await emulator.pushMessage({ chatId, text: '/archive' });
    await waitFor(
      () => emulator.view(chatId).find((m) => m.from === 'bot' && m.text.startsWith('Archived')),
      {
        timeoutMs: 10_000,
      },
    );
    const third = await emulator.pushMessage({ chatId, text: 'fresh start here' });
    await finalCard(chatId, third.messageId);
    const freshRequest = mock.requests.findLast((r) => r.lastUserText?.includes('fresh start here'));
    expect(JSON.stringify(freshRequest?.body)).not.toContain('mango');
  });

  it('Always allow: stored for the workspace, the same command is then approved without a card; /config lists and removes it', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const first = await emulator.pushMessage({ chatId, text: '[[escalate: git status --short]]' });
    const ask = await askCard(chatId, first.messageId, /Approval needed/);
    const always = buttonsOf(ask.card).find((v) => v.a === 'always');
    expect(always, 'a plain command can be always allowed').toBeDefined();
    expect(ask.text).toContain('Always allow');
    expect((await press(ask.messageId, always!))?.toast?.content).toContain('git status');
    await finalCard(chatId, first.messageId);

    const second = await emulator.pushMessage({ chatId, text: '[[escalate: git status --short]] again' });
    await finalCard(chatId, second.messageId);
    expect(botCards(chatId, second.messageId).filter((m) => /Approval/.test(m.text))).toEqual([]);
    expect(approvalAudits().some((l) => String(l.reason).includes('always allowed'))).toBe(true);

    // /config shows the rule with a Remove button; removing it makes the command ask again.
    const config = await emulator.pushMessage({ chatId, text: '/config' });
    const configCard = await waitFor(() => botCards(chatId, config.messageId)[0], { timeoutMs: 10_000 });
    expect(configCard.text).toContain('git status');
    const remove = buttonsOf(configCard.card).find((v) => v.g?.startsWith('rule.remove='))!;
    expect((await press(configCard.messageId, remove))?.toast?.type).toBe('success');
    const third = await emulator.pushMessage({ chatId, text: '[[escalate: git status --short]] once more' });
    const askedAgain = await askCard(chatId, third.messageId, /Approval needed/);
    const deny = buttonsOf(askedAgain.card).find((v) => v.a === 'deny')!;
    await press(askedAgain.messageId, deny);
    await finalCard(chatId, third.messageId);
  });

  it('a chat set to "waits for the next run" in /config queues a message sent during a run', async () => {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const config = await emulator.pushMessage({ chatId, text: '/config' });
    const configCard = await waitFor(() => botCards(chatId, config.messageId)[0], { timeoutMs: 10_000 });
    expect(configCard.text).toContain('A message sent during a run');
    const queue = buttonsOf(configCard.card).find((v) => v.g === 'midRunMessages=queue')!;
    expect((await press(configCard.messageId, queue))?.toast?.type).toBe('success');

    const sent = await emulator.pushMessage({ chatId, text: 'first [[slow:1500]]' });
    const before = mock.requests.length;
    await waitFor(() => mock.requests.length > before && runCard(chatId, sent.messageId), {
      timeoutMs: 15_000,
    });
    const later = await emulator.pushMessage({ chatId, text: 'second, after the first' });
    const first = await finalCard(chatId, sent.messageId);
    expect(first.text).not.toContain('second, after the first');
    // It ran on its own, next, with its own card.
    const second = await finalCard(chatId, later.messageId);
    expect(second.text).toContain('ok: second, after the first');
  });

  it('counts every approval and question outcome in /metrics', async () => {
    const url = String(larkcode.logs.find((l) => l.msg === 'metrics and health served')?.url);
    const text = await (await fetch(`${url}/metrics`)).text();
    const count = (name: string, outcome: string) =>
      Number(new RegExp(`larkcode_${name}_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? -1);
    // Earlier tests in this file: approved (3, one by Always allow), denied (3), expired (1), auto (1, the stored rule), answered (2).
    expect(count('approvals', 'approved')).toBeGreaterThanOrEqual(3);
    expect(count('approvals', 'denied')).toBeGreaterThanOrEqual(3);
    expect(count('approvals', 'expired')).toBeGreaterThanOrEqual(1);
    expect(count('approvals', 'auto')).toBeGreaterThanOrEqual(1);
    expect(count('questions', 'answered')).toBeGreaterThanOrEqual(2);
  });
});

describe('approvals.policy untrusted: a click for writes inside the workspace', () => {
  let stack: CodexStack;

  beforeAll(async () => {
    stack = await startCodexStack({
      cardFlushIntervalMs: 150,
      codexBackend: 'app-server',
      config: { runs: { debounceMs: 50 }, allowlist: [MEMBER], approvals: { policy: 'untrusted' } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('the requester (not an admin) approves a write in the workspace; it runs inside the sandbox', async () => {
    const { emulator, larkcode } = stack;
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    const sent = await emulator.pushMessage({
      chatId,
      text: '[[shell: touch made-by-member.txt]]',
      senderOpenId: MEMBER,
    });
    const ask = await waitFor(
      () =>
        emulator
          .view(chatId)
          .find(
            (m) =>
              m.from === 'bot' &&
              m.parentId === sent.messageId &&
              buttonsOf(m.card).some((v) => v.a === 'approve'),
          ),
      { timeoutMs: 20_000 },
    );
    expect(ask.text).not.toContain('outside the sandbox');
    const approve = buttonsOf(ask.card).find((v) => v.a === 'approve')!;
    const click = await emulator.pushCardAction({
      messageId: ask.messageId,
      value: approve,
      operatorOpenId: MEMBER,
    });
    expect(click.acks[0]?.data).toMatchObject({ toast: { type: 'success' } });
    await waitFor(
      () =>
        emulator
          .view(chatId)
          .find((m) => m.from === 'bot' && m.parentId === sent.messageId && FINAL_HEADER.test(m.text)),
      { timeoutMs: 20_000 },
    );
    expect(existsSync(join(larkcode.workspace, 'made-by-member.txt'))).toBe(true);
  });
});
