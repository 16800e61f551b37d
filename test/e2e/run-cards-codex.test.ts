import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { CallbackKeyStore } from '../../src/security/callback-keys.js';
import { type CallbackValue, signCallback } from '../../src/security/callback-token.js';
import { FINAL_HEADER, showsOutcome } from '../support/cards.js';
import {
  type CardCallbackRecord,
  type CardEntity,
  type ChatViewItem,
  DEFAULT_USER_OPEN_ID,
  type FeishuEmulator,
  waitFor,
} from '../support/feishu-emulator/index.js';
import { type CodexStack, type InProcessLarkcode, startCodexStack } from '../support/larkcode-harness.js';
import { type MockModel, richTurn } from '../support/mock-model/index.js';
import { codexProcessesFor } from '../support/process-tree.js';

/** Allowlisted, not an admin: may start runs, may stop only their own. */
const MEMBER = 'ou_member00000000000000000000000b0b';
/** Also allowlisted, also not an admin. */
const OTHER_MEMBER = 'ou_member00000000000000000000000ca7';
/** Not allowlisted at all. */
const STRANGER = 'ou_stranger000000000000000000000bad';

type Json = Record<string, unknown>;

/** The first node of a card's JSON with this element_id. */
function findElement(node: unknown, elementId: string): Json | undefined {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = findElement(child, elementId);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof node !== 'object' || node === null) return undefined;
  const record = node as Json;
  if (record.element_id === elementId) return record;
  for (const value of Object.values(record)) {
    const found = findElement(value, elementId);
    if (found) return found;
  }
  return undefined;
}

/** The signed callback value behind a card's Stop button, if it shows one. */
function stopValueOf(card: Json): CallbackValue | undefined {
  const button = findElement(card, 'stop') as
    | { behaviors?: { type?: string; value?: unknown }[] }
    | undefined;
  const behavior = button?.behaviors?.[0];
  return behavior?.type === 'callback' ? (behavior.value as CallbackValue) : undefined;
}

/** `text` with the character at `index` replaced by a different one of the same alphabet. */
function changeOneChar(text: string, index: number): string {
  const current = text[index];
  const replacement = current === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

describe('run cards on the real codex: rendering, reactions and the Stop button', () => {
  let emulator: FeishuEmulator;
  let mock: MockModel;
  let larkcode: InProcessLarkcode;
  let stack: CodexStack;
  let workspace: string;
  let codexHome: string;

  beforeAll(async () => {
    stack = await startCodexStack({
      config: { runs: { debounceMs: 50 }, allowlist: [MEMBER, OTHER_MEMBER] },
    });
    ({ emulator, mock, larkcode } = stack);
    workspace = realpathSync(larkcode.workspace);
    codexHome = resolvePaths({ LARKCODE_HOME: larkcode.home }).defaultCodexHome;
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const codexPids = () => codexProcessesFor(codexHome);
  const botMessages = (chatId: string) => emulator.view(chatId).filter((m) => m.from === 'bot');
  /** The run card answering a message (the first bot card replying to it). */
  const cardFor = (chatId: string, messageId: string) =>
    botMessages(chatId).find((m) => m.msgType === 'interactive' && m.parentId === messageId);
  const entityOf = (cardMessageId: string): CardEntity | undefined =>
    Object.values(emulator.cards).find((c) => c.messageId === cardMessageId);
  const outcomeFor = (chatId: string, messageId: string) =>
    waitFor(
      () => {
        const card = cardFor(chatId, messageId);
        return card && showsOutcome(card) && card;
      },
      { timeoutMs: 15_000 },
    );
  /** The reactions larkcode (the bot) shows on a message, oldest first. */
  const botReactions = (chatId: string, messageId: string): string[] =>
    (emulator.view(chatId).find((m) => m.messageId === messageId)?.reactions ?? [])
      .filter((r) => r.by === emulator.botOpenId)
      .map((r) => r.emoji);
  /** Every reaction call on a message, as `POST OnIt` / `DELETE OnIt`, in order. */
  const reactionCalls = (messageId: string): string[] =>
    emulator.calls
      .filter((c) => c.path.includes(`/messages/${messageId}/reactions`) && c.method !== 'GET')
      .map((c) => {
        const source = (c.method === 'POST' ? c.body : (c.response as { data?: unknown })?.data) as
          | { reaction_type?: { emoji_type?: string } }
          | undefined;
        return `${c.method} ${source?.reaction_type?.emoji_type ?? '?'}`;
      });
  const callbackFor = (eventId: string): CardCallbackRecord => {
    const record = emulator.cardCallbacks.find((c) => c.eventId === eventId);
    if (!record) throw new Error(`no callback record for ${eventId}`);
    return record;
  };
  /** Earlier tests' codex processes have exited (a finished run's process may take a moment). */
  const noCodexLeft = () => waitFor(() => codexPids().length === 0, { timeoutMs: 3000 });
  const cardAudits = () => larkcode.logs.filter((l) => l.audit === 'card.action');

  /** Waits until codex runs and the run's live card shows a Stop button; returns both. */
  async function liveRun(chatId: string, messageId: string, ready: (card: ChatViewItem) => boolean) {
    return waitFor(
      () => {
        const card = cardFor(chatId, messageId);
        if (!card || showsOutcome(card) || !ready(card)) return undefined;
        const entity = entityOf(card.messageId);
        const value = entity && stopValueOf(entity.json);
        const pids = codexPids();
        if (!entity || !value || pids.length === 0) return undefined;
        return { card, entity, value, pids };
      },
      { timeoutMs: 15_000 },
    );
  }

  it('renders every part of a rich codex turn on the final card, and swaps the reaction for DONE', async () => {
    expect(larkcode.config.cards.showReasoning, 'the default profile shows reasoning').toBe(true);
    const rich = richTurn();
    const { expected } = rich;
    mock.enqueue(...rich.turns);
    const chat = emulator.createChat({ mode: 'p2p' });
    const requestsBefore = mock.requests.length;
    const sent = await emulator.pushMessage({ chatId: chat.chatId, text: 'show me a rich turn' });
    expect(sent.acks).toEqual([{ code: 200 }]);

    const card = await outcomeFor(chat.chatId, sent.messageId);
    expect(mock.requests.length - requestsBefore).toBe(expected.requestCount);
    const [ok, fail] = expected.commands;
    const filePath = join(workspace, expected.file.name);

    // What the user sees.
    const text = card.text;
    expect(card.msgType).toBe('interactive');
    expect(text.split('\n')[0]).toBe('✅ Done');
    const parts = [
      '💭 Reasoning',
      expected.reasoningText,
      `💻 ✅ \`${ok.command}\` · exit ${ok.exitCode}`,
      ok.outputIncludes.trimEnd(),
      `💻 ❌ \`${fail.command}\` · exit ${fail.exitCode}`,
      fail.outputIncludes.trimEnd(),
      '📝 ✅ Edited 1 file +',
      `+ \`${filePath}\``,
      expected.finalText,
    ];
    let from = 0;
    for (const part of parts) {
      const at = text.indexOf(part, from);
      expect(
        at,
        `card shows ${JSON.stringify(part)} after what came before:\n${text}`,
      ).toBeGreaterThanOrEqual(0);
      from = at + part.length;
    }
    const footer = text.split('\n').find((line) => line.startsWith('⏱'));
    expect(footer).toMatch(
      new RegExp(
        `^⏱ \\d+s · 🔢 ${expected.usage.inputTokens} in / ${expected.usage.outputTokens} out · 🤖 codex-sdk · gpt-5.5 · 📁 ${escapeRegExp(workspace)} · 🔒 workspace-write$`,
      ),
    );
    expect(text).not.toContain('Stop');

    // The CardKit entity behind it: the same parts as elements, no live leftovers.
    expect(entityOf(card.messageId), 'the run card is a CardKit entity sent by card_id').toBeDefined();
    // Streaming is turned off by the operation after the final content: wait for it, not race it.
    const entity = await waitFor(() => {
      const found = entityOf(card.messageId);
      return found?.streamingMode === false && found;
    });
    const json = entity!.json as {
      header: { title: { content: string }; template: string };
      body: { elements: Json[] };
      config: { summary?: { content?: string } };
    };
    expect(json.header.title.content).toBe('✅ Done');
    expect(json.header.template).toBe('green');
    expect(stopValueOf(json)).toBeUndefined();
    const panels = json.body.elements.filter((e) => e.tag === 'collapsible_panel');
    const panelTitle = (panel: Json) =>
      ((panel.header as { title: { content: string } }).title.content as string).trim();
    const panelBody = (panel: Json) => (panel.elements as { content: string }[])[0]!.content;
    expect(panels.map(panelTitle)).toEqual([
      '💭 Reasoning',
      `💻 ✅ \`${ok.command}\` · exit 0`,
      `💻 ❌ \`${fail.command}\` · exit 3`,
      '📝 ✅ Edited 1 file +',
    ]);
    expect(panels.every((p) => p.expanded === false)).toBe(true);
    expect(panelBody(panels[0]!)).toBe(expected.reasoningText);
    expect(panelBody(panels[1]!)).toMatch(/^```\n[\s\S]*rich-ok\n1\n2\n3\n```$/);
    expect(panelBody(panels[2]!)).toMatch(/^```\n[\s\S]*rich-fail\n```$/);
    expect(panelBody(panels[3]!)).toBe(`+ \`${filePath}\``);
    const answer = json.body.elements.find((e) => e.tag === 'markdown' && e.content === expected.finalText);
    expect(answer, 'the final message is its own markdown element').toBeDefined();
    expect(json.body.elements.indexOf(answer!)).toBeGreaterThan(json.body.elements.indexOf(panels[3]!));
    expect(findElement(json, 'footer')?.content).toBe(footer);
    expect(json.config.summary?.content).toBe(
      expected.finalText
        .replace(/[*_`#>~|]/g, '')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 60),
    );
    expect(readFileSync(filePath, 'utf8')).toBe(expected.file.content);

    // The user's message: 'OnIt' while it ran, swapped for 'DONE' when it ended.
    await waitFor(() => botReactions(chat.chatId, sent.messageId).join() === 'DONE');
    expect(reactionCalls(sent.messageId)).toEqual(['POST OnIt', 'DELETE OnIt', 'POST DONE']);
    expect(botMessages(chat.chatId)).toHaveLength(1);
    expect(emulator.violations).toEqual([]);
  });

  it('stops a real codex run from the Stop button: success toast, codex gone at once, card interrupted', async () => {
    const chat = emulator.createChat({ mode: 'p2p' });
    await noCodexLeft();
    const requestsBefore = mock.requests.length;
    const sent = await emulator.pushMessage({ chatId: chat.chatId, text: 'work forever [[hang]]' });
    await mock.waitForRequests(requestsBefore + 1);
    const live = await liveRun(chat.chatId, sent.messageId, () => true);
    expect(live.entity.streamingMode).toBe(true);
    expect(live.value).toMatchObject({ a: 'stop', c: chat.chatId, u: DEFAULT_USER_OPEN_ID });
    expect(botReactions(chat.chatId, sent.messageId)).toEqual(['OnIt']);

    const clickedAt = performance.now();
    const click = await emulator.pushCardAction({
      messageId: live.card.messageId,
      value: live.value,
      operatorOpenId: DEFAULT_USER_OPEN_ID,
    });
    const ackedAt = performance.now();
    expect(click.acks).toEqual([
      { code: 200, data: { toast: { type: 'success', content: 'Stopping the run…' } } },
    ]);
    expect(callbackFor(click.eventId).latencyMs).toBeLessThan(3000);
    expect(ackedAt - clickedAt).toBeLessThan(3000);

    // The same button again, straight away: already used (or, if the run is already over, ended).
    const replay = await emulator.pushCardAction({
      messageId: live.card.messageId,
      value: live.value,
      operatorOpenId: DEFAULT_USER_OPEN_ID,
    });
    expect([
      { type: 'error', content: 'This button was already used.' },
      { type: 'info', content: 'This run has already ended.' },
    ]).toContainEqual(callbackFor(replay.eventId).toast);

    const goneAt = await waitFor(
      () => codexPids().length === 0 && live.pids.every((pid) => !isAlive(pid)) && performance.now(),
      { timeoutMs: 3000, intervalMs: 5 },
    );
    const clickToGone = goneAt - clickedAt;
    console.info(
      `[run-cards-codex] Stop click: ack ${(ackedAt - clickedAt).toFixed(0)} ms (emulator latency ${callbackFor(click.eventId).latencyMs} ms), codex gone ${clickToGone.toFixed(0)} ms after the click`,
    );
    expect(clickToGone, 'codex exits within 1 s of the click').toBeLessThan(1000);

    const card = await outcomeFor(chat.chatId, sent.messageId);
    expect(card.text.split('\n')[0]).toBe('⏹ Interrupted');
    const entity = entityOf(card.messageId)!;
    expect(stopValueOf(entity.json)).toBeUndefined();
    expect(entity.streamingMode).toBe(false);
    await waitFor(() => botReactions(chat.chatId, sent.messageId).join() === 'No');
    expect(reactionCalls(sent.messageId)).toEqual(['POST OnIt', 'DELETE OnIt', 'POST No']);

    // Pressed once more after the run ended: it says so and changes nothing.
    const late = await emulator.pushCardAction({
      messageId: card.messageId,
      value: live.value,
      operatorOpenId: DEFAULT_USER_OPEN_ID,
    });
    expect(late.acks[0]?.data).toEqual({ toast: { type: 'info', content: 'This run has already ended.' } });
    expect(mock.requests.length - requestsBefore).toBe(1);
    expect(codexPids()).toEqual([]);
    const allowed = cardAudits().filter((l) => l.decision === 'allowed' && l.runId === live.value.r);
    expect(allowed).toHaveLength(1);
    expect(emulator.violations).toEqual([]);
  });

  it('refuses forged, expired, foreign-chat and other-user clicks on a live codex run; the run carries on and completes', async () => {
    const chat = emulator.createChat({ mode: 'p2p' });
    const otherChat = emulator.createChat({ mode: 'p2p' });
    await noCodexLeft();
    const gate = `gate-${Date.now()}.flag`;
    const command = `until test -e ${gate}; do sleep 0.05; done; echo released`;
    const requestsBefore = mock.requests.length;
    const sent = await emulator.pushMessage({
      chatId: chat.chatId,
      senderOpenId: MEMBER,
      text: `wait for the gate [[shell: ${command}]] [[reply: finished after the refused clicks]]`,
    });
    await mock.waitForRequests(requestsBefore + 1);
    // Live and busy: codex is running the waiting command.
    const live = await liveRun(chat.chatId, sent.messageId, (card) => card.text.includes('_running…_'));
    expect(live.value).toMatchObject({ a: 'stop', c: chat.chatId, u: MEMBER });
    const liveTitle = (live.entity.json as { header: { title: { content: string } } }).header.title.content;
    expect(liveTitle).toMatch(/^🔧 Running a tool: until test -e gate-/);

    const stateNow = () => {
      const card = cardFor(chat.chatId, sent.messageId)!;
      const entity = entityOf(card.messageId)!;
      return {
        title: (entity.json as { header: { title: { content: string } } }).header.title.content,
        streaming: entity.streamingMode,
        stopValue: stopValueOf(entity.json),
        botMessages: botMessages(chat.chatId).length,
        otherChatMessages: emulator.view(otherChat.chatId).length,
        reactions: botReactions(chat.chatId, sent.messageId),
        requests: mock.requests.length - requestsBefore,
        pidsAlive: live.pids.every(isAlive),
      };
    };
    const before = stateNow();
    expect(before).toEqual({
      title: liveTitle,
      streaming: true,
      stopValue: live.value,
      botMessages: 1,
      otherChatMessages: 0,
      reactions: ['OnIt'],
      requests: 1,
      pidsAlive: true,
    });

    // An expired token, properly signed with the daemon's own key: ttl 1 ms, then 5 ms later.
    const keys = CallbackKeyStore.open(join(larkcode.home, 'state'));
    const v = live.value;
    const expired = signCallback(
      {
        runId: v.r,
        scopeId: v.s,
        chatId: v.c,
        operatorOpenId: v.u,
        action: v.a,
        policyFingerprint: v.p,
      },
      { keys, ttlMs: 1 },
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Date.now()).toBeGreaterThan(expired.x);

    const refusals: {
      what: string;
      value: CallbackValue;
      operator: string;
      chatId?: string;
      toast: string;
      reason: string;
    }[] = [
      {
        what: 'signature with one character changed',
        value: { ...v, sig: changeOneChar(v.sig, 10) },
        operator: MEMBER,
        toast: 'This button could not be verified. Nothing was done.',
        reason: 'forged',
      },
      {
        what: 'run id with one character changed',
        value: { ...v, r: changeOneChar(v.r, v.r.length - 1) },
        operator: MEMBER,
        toast: 'This button could not be verified. Nothing was done.',
        reason: 'forged',
      },
      {
        what: 'expired token',
        value: expired,
        operator: MEMBER,
        toast: 'This button has expired. Nothing was done.',
        reason: 'expired',
      },
      {
        what: 'the genuine button, clicked in another chat',
        value: v,
        operator: MEMBER,
        chatId: otherChat.chatId,
        toast: 'This button could not be verified. Nothing was done.',
        reason: 'chat mismatch',
      },
      {
        what: 'another allowlisted user',
        value: v,
        operator: OTHER_MEMBER,
        toast: 'Only the person who started this run or an admin can do that.',
        reason: 'not the run starter or an admin',
      },
      {
        what: 'a stranger',
        value: v,
        operator: STRANGER,
        toast: 'Only the person who started this run or an admin can do that.',
        reason: 'not the run starter or an admin',
      },
    ];
    for (const refusal of refusals) {
      const auditsBefore = cardAudits().length;
      const click = await emulator.pushCardAction({
        messageId: live.card.messageId,
        value: refusal.value,
        operatorOpenId: refusal.operator,
        ...(refusal.chatId ? { chatId: refusal.chatId } : {}),
      });
      expect(click.acks, refusal.what).toEqual([
        { code: 200, data: { toast: { type: 'error', content: refusal.toast } } },
      ]);
      const record = callbackFor(click.eventId);
      expect(record.latencyMs, refusal.what).toBeLessThan(3000);
      expect(record.card, refusal.what).toBeUndefined();
      const audits = cardAudits().slice(auditsBefore);
      expect(
        audits.map((a) => [a.decision, a.reason, a.operator]),
        refusal.what,
      ).toEqual([['denied', refusal.reason, refusal.operator]]);
      // Nothing else happened: codex still runs the same command, the card is still live with its button.
      expect(stateNow(), refusal.what).toEqual(before);
    }
    expect(emulator.violations).toEqual([]);

    // Open the gate: the run finishes on its own.
    writeFileSync(join(workspace, gate), '');
    const card = await outcomeFor(chat.chatId, sent.messageId);
    expect(card.text.split('\n')[0]).toBe('✅ Done');
    expect(card.text).toContain('finished after the refused clicks');
    expect(card.text).toContain(`💻 ✅ \`${command}\` · exit 0`);
    expect(card.text).toContain('released');
    expect(stopValueOf(entityOf(card.messageId)!.json)).toBeUndefined();
    expect(mock.requests.length - requestsBefore).toBe(2);
    await waitFor(() => botReactions(chat.chatId, sent.messageId).join() === 'DONE');
    expect(reactionCalls(sent.messageId)).toEqual(['POST OnIt', 'DELETE OnIt', 'POST DONE']);
    await waitFor(() => codexPids().length === 0, { timeoutMs: 3000 });
    // The refused clicks left the button usable; now that the run is over it only says so.
    const afterwards = await emulator.pushCardAction({
      messageId: card.messageId,
      value: v,
      operatorOpenId: MEMBER,
    });
    expect(afterwards.acks[0]?.data).toEqual({
      toast: { type: 'info', content: 'This run has already ended.' },
    });
    expect(botMessages(chat.chatId)).toHaveLength(1);
    expect(emulator.violations).toEqual([]);
  });

  it("lets the owner (an admin) stop a member's run", async () => {
    const chat = emulator.createChat({ mode: 'p2p' });
    await noCodexLeft();
    const requestsBefore = mock.requests.length;
    const sent = await emulator.pushMessage({
      chatId: chat.chatId,
      senderOpenId: MEMBER,
      text: 'a long job [[hang]]',
    });
    await mock.waitForRequests(requestsBefore + 1);
    const live = await liveRun(chat.chatId, sent.messageId, () => true);
    expect(live.value.u).toBe(MEMBER);

    const clickedAt = performance.now();
    const click = await emulator.pushCardAction({
      messageId: live.card.messageId,
      value: live.value,
      operatorOpenId: DEFAULT_USER_OPEN_ID,
    });
    expect(click.acks[0]?.data).toEqual({ toast: { type: 'success', content: 'Stopping the run…' } });
    const goneAt = await waitFor(() => codexPids().length === 0 && performance.now(), {
      timeoutMs: 3000,
      intervalMs: 5,
    });
    expect(goneAt - clickedAt).toBeLessThan(1000);
    const card = await outcomeFor(chat.chatId, sent.messageId);
    expect(card.text).toMatch(FINAL_HEADER);
    expect(card.text.split('\n')[0]).toBe('⏹ Interrupted');
    await waitFor(() => botReactions(chat.chatId, sent.messageId).join() === 'No');
    const allowed = cardAudits().filter((l) => l.decision === 'allowed' && l.runId === live.value.r);
    expect(allowed.map((l) => l.operator)).toEqual([DEFAULT_USER_OPEN_ID]);
    expect(emulator.violations).toEqual([]);
  });
});

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
