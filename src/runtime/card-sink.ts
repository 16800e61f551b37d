import type { Logger } from 'pino';
import type { CardRef, FlushFailure, FlushRequest, FlushResult } from '../../machines/renderer.machine.js';
import {
  type CardJson,
  FIRST_PAGE,
  type PageCursor,
  paginateRun,
  type RunCardChrome,
  type RunPage,
} from '../cards/run-card.js';
import { answerText } from '../cards/run-state.js';
import type { RunView } from '../cards/run-view.js';
import { SlidingWindowLimiter } from '../core/rate-limiter.js';
import { FeishuApiError, type FeishuFailure } from '../feishu/errors.js';
import { type FeishuPort, type ReplyTarget, replyTargetFor } from '../feishu/port.js';
import { splitForTextMessages } from './split-text.js';

/** The card a run is shown on, as remembered across a restart. */
export interface RunCardHandle {
  messageId: string;
  cardId?: string;
  cardCreatedAt?: number;
}

export interface CardSinkDeps {
  feishu: FeishuPort;
  logger: Logger;
  agentName: string;
  model?: string;
  showReasoning: boolean;
  now: () => number;
  /** The signed value behind a live run's Stop button (none → no button). */
  stopActionFor?: (view: RunView) => Record<string, unknown> | undefined;
  /** Remember which message shows a run, so a restart can mark it interrupted there. */
  onCardCreated?: (scopeId: string, runId: string, card: RunCardHandle) => void;
  /** Per card; Feishu allows 10. */
  cardOpsPerSecond?: number;
  /** Between two PATCHes of one message in the interactive-card fallback (Feishu: 5 QPS, 230020). */
  patchIntervalMs?: number;
  /** Turn streaming on again this long after it was last turned on (Feishu closes it at 10 min). */
  streamingRefreshMs?: number;
}

/**
 * How a run's cards are written. CardKit first (streaming text, sequenced operations); if
 * CardKit cannot be used, PATCHed interactive cards; if cards cannot be used at all, the final
 * answer as markdown messages. A run only ever steps down.
 */
type SinkMode = 'cardkit' | 'im' | 'text';

interface LiveCard {
  messageId: string;
  cardId?: string;
  createdAt: number;
  lastSequence: number;
  streaming: boolean;
  streamingSince: number;
  lastLiveOpAt?: number;
  /** What the card shows now: its layout without the streamed text, and that text. */
  structure?: string;
  streamText?: string;
  final?: boolean;
}

interface RunCards {
  mode: SinkMode;
  /** Where the current page starts; earlier pages are sealed. */
  cursor: PageCursor;
  pageNumber: number;
  live?: LiveCard;
  stopAction?: Record<string, unknown>;
  textChunksSent: number;
  /** A card entity created but not yet sent (its reply was deferred): sent, not re-created. */
  unsent?: { cardId: string; createdAt: number; structure: string; streamText?: string; closing: boolean };
}

const DEFAULTS = { cardOpsPerSecond: 8, patchIntervalMs: 1500, streamingRefreshMs: 9 * 60_000 };

const CARDKIT_RETRY_AFTER_MS = 10 * 60_000;
/** Content writes of live cards are paced; control operations (streaming on/off, the final write) are not. */
type OpKind = 'content' | 'control';
const CONTROL: OpKind = 'control';

/** Live card writes per minute across all cards (Feishu: 1000/min per CardKit API, per app). */
const LIVE_WRITES_PER_MINUTE = 900;

const STREAMING_CONFIG = {
  print_frequency_ms: { default: 30 },
  print_step: { default: 3 },
  print_strategy: 'fast',
};

/** A failure that tells the renderer to wait and write the latest content later. */
class TryLater extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`card write deferred ${retryAfterMs} ms`);
  }
}

/**
 * Writes each run's view to Feishu: the card replies to the run's last message, pages roll
 * over into continuation cards before a limit, and every platform answer is classified for
 * the renderer (rate limit → it backs off and coalesces). The final content always lands.
 */
export function createCardSink(deps: CardSinkDeps) {
  const settings = { ...DEFAULTS, ...definedOnly(deps) };
  const runs = new Map<string, RunCards>();
  const cardOps = new SlidingWindowLimiter([{ windowMs: 1000, max: settings.cardOpsPerSecond }], deps.now);
  const patches = new SlidingWindowLimiter([{ windowMs: settings.patchIntervalMs, max: 1 }], deps.now);
  let warnedFallback = false;
  // CardKit refused for want of a scope or credentials: every run would fail the same way,
  // so runs start on interactive cards for a while instead of failing first.
  let cardKitUnavailableUntil = 0;

  const chromeFor = (run: RunCards): RunCardChrome => ({
    agent: deps.agentName,
    ...(deps.model ? { model: deps.model } : {}),
    now: deps.now(),
    showReasoning: deps.showReasoning,
    ...(run.stopAction ? { stopAction: run.stopAction } : {}),
  });

  async function flushCard(request: FlushRequest): Promise<FlushResult> {
    const { view } = request;
    const run = runs.get(view.runId) ?? openRun(request);
    runs.set(view.runId, run);
    try {
      const finished = view.stage === 'finished';
      // Laying a page out costs more than waiting: a paced live card is not laid out at all.
      if (!finished && run.mode === 'cardkit' && run.live?.cardId) {
        const wait = paceWait(run.live);
        if (wait > 0) throw new TryLater(wait);
      }
      if (finished) delete run.stopAction;
      const paged = paginateRun(view, run.cursor, run.pageNumber, chromeFor(run));
      for (const page of paged.sealed) {
        await writePage(run, view, page, 'sealed');
        run.cursor = page.end;
        run.pageNumber++;
        delete run.live;
      }
      await writePage(run, view, paged.last, finished ? 'final' : 'live');
      if (finished) forget(view.runId);
      const cardRef: CardRef = { messageId: run.live?.messageId ?? request.cardRef?.messageId ?? '' };
      if (run.live?.cardId)
        Object.assign(cardRef, { cardId: run.live.cardId, cardCreatedAt: run.live.createdAt });
      return { cardRef, version: request.version };
    } catch (error) {
      throw toFlushFailure(error);
    }
  }

  function openRun(request: FlushRequest): RunCards {
    const mode: SinkMode = deps.now() < cardKitUnavailableUntil ? 'im' : 'cardkit';
    const run: RunCards = { mode, cursor: FIRST_PAGE, pageNumber: 1, textChunksSent: 0 };
    const ref = request.cardRef as (CardRef & Partial<RunCardHandle>) | undefined;
    if (ref?.messageId) {
      // A card from before a restart: its streaming state and sequence are unknown, so treat
      // it as streaming (the final write turns that off) and derive sequences from its age.
      run.live = {
        messageId: ref.messageId,
        createdAt: ref.cardCreatedAt ?? deps.now(),
        lastSequence: 0,
        streaming: Boolean(ref.cardId),
        streamingSince: 0,
        ...(ref.cardId ? { cardId: ref.cardId } : {}),
      };
      if (!ref.cardId) run.mode = 'im';
    }
    if (request.view.stage !== 'finished') {
      const stop = deps.stopActionFor?.(request.view);
      if (stop) run.stopAction = stop;
    }
    return run;
  }

  function forget(runId: string): void {
    runs.delete(runId);
  }

  type PageRole = 'live' | 'sealed' | 'final';

  async function writePage(run: RunCards, view: RunView, page: RunPage, role: PageRole): Promise<void> {
    for (;;) {
      const mode = run.mode;
      try {
        if (mode === 'cardkit') return await writeCardKit(run, view, page, role);
        if (mode === 'im') return await writeInteractive(run, view, page, role);
        return await writeText(run, view, role);
      } catch (error) {
        const next = stepDown(mode, error);
        if (!next) throw error;
        if (!warnedFallback || next === 'text') {
          deps.logger.warn(
            { runId: view.runId, from: mode, to: next, err: String(error) },
            'run card falling back to a simpler form',
          );
          warnedFallback = true;
        }
        run.mode = next;
        const failure = failureOf(error);
        if (mode === 'cardkit' && (failure === 'permission' || failure === 'auth')) {
          cardKitUnavailableUntil = deps.now() + CARDKIT_RETRY_AFTER_MS;
        }
        // The new form starts a new message; the old card keeps what it showed.
        delete run.live;
      }
    }
  }

  // ── CardKit ──────────────────────────────────────────────────────────────────────────────

  async function writeCardKit(run: RunCards, view: RunView, page: RunPage, role: PageRole): Promise<void> {
    const closing = role !== 'live';
    const structure = structureOf(page);
    const streamText = page.stream?.text;
    if (!run.live?.cardId) {
      run.live = await sendNewCardKitCard(run, view, page, closing, structure, streamText);
      deps.onCardCreated?.(view.scopeId, view.runId, handleOf(run.live));
    }
    const live = run.live;
    const card = live;
    try {
      if (!closing && card.streaming && deps.now() - card.streamingSince >= settings.streamingRefreshMs) {
        // Feishu closes streaming 10 min after it was turned on; turning it on while it is on
        // may not restart that clock, so turn it off and on again.
        await cardOp(
          card,
          (seq) => deps.feishu.setCardStreaming(card.cardId!, { streaming: false }, seq),
          CONTROL,
        );
        card.streaming = false;
        await turnStreamingOn(card);
      }
      const sameStructure = card.structure === structure;
      const sameText = card.streamText === streamText;
      if (closing) {
        if (!sameStructure || !sameText || !card.final) {
          const json = withConfig(page.card, { streaming_mode: false });
          await cardOp(
            card,
            (seq) => deps.feishu.updateCardEntity(card.cardId!, json, seq, { urgent: true }),
            CONTROL,
          );
          setWritten(card, structure, streamText);
          card.final = true;
        }
        if (card.streaming) {
          const summary = summaryOf(page.card);
          await cardOp(
            card,
            (seq) =>
              deps.feishu.setCardStreaming(card.cardId!, { streaming: false, summary }, seq, {
                urgent: true,
              }),
            CONTROL,
          );
          card.streaming = false;
        }
        return;
      }
      if (sameStructure && sameText) return;
      if (!card.streaming) {
        await turnStreamingOn(card);
      }
      const typewriter =
        sameStructure &&
        card.streaming &&
        page.stream !== undefined &&
        card.streamText !== undefined &&
        page.stream.text.startsWith(card.streamText);
      if (typewriter && page.stream) {
        const { elementId, text } = page.stream;
        await cardOp(card, (seq) => deps.feishu.streamCardText(card.cardId!, elementId, text, seq));
      } else {
        const json = withConfig(page.card, {
          streaming_mode: card.streaming,
          streaming_config: STREAMING_CONFIG,
        });
        await cardOp(card, (seq) => deps.feishu.updateCardEntity(card.cardId!, json, seq));
      }
      setWritten(card, structure, streamText);
    } catch (error) {
      const failure = failureOf(error);
      if (failure === 'streaming_off') {
        // Feishu closed the stream (10 min): turn it on again; the write is retried next flush.
        await turnStreamingOn(card);
        throw new TryLater(0);
      }
      if (failure === 'message_gone') {
        // The card expired or its message was recalled: continue on a new card.
        delete run.live;
        return writeCardKit(run, view, page, role);
      }
      throw error;
    }
  }

  async function sendNewCardKitCard(
    run: RunCards,
    view: RunView,
    page: RunPage,
    closing: boolean,
    structure: string,
    streamText: string | undefined,
  ): Promise<LiveCard> {
    if (!run.unsent) {
      const json = withConfig(
        page.card,
        closing ? { streaming_mode: false } : { streaming_mode: true, streaming_config: STREAMING_CONFIG },
      );
      const cardId = await deps.feishu.createCardEntity(json, { urgent: closing });
      run.unsent = {
        cardId,
        createdAt: deps.now(),
        structure,
        closing,
        ...(streamText !== undefined ? { streamText } : {}),
      };
    }
    const unsent = run.unsent;
    const messageId = await deliver(
      view,
      (target) => deps.feishu.replyCardEntity(target, unsent.cardId, { urgent: closing }),
      (chatId) => deps.feishu.sendCardEntity(chatId, unsent.cardId, { urgent: closing }),
    );
    delete run.unsent;
    // What the entity shows is what it was created with; the caller brings it up to date.
    return {
      messageId,
      cardId: unsent.cardId,
      createdAt: unsent.createdAt,
      lastSequence: 0,
      streaming: !unsent.closing,
      streamingSince: unsent.createdAt,
      final: unsent.closing,
      structure: unsent.structure,
      ...(unsent.streamText !== undefined ? { streamText: unsent.streamText } : {}),
    };
  }

  /**
   * How long a live card must wait for its next content write: the cards streaming now share
   * Feishu's per-minute quota, instead of using it up in a burst and then writing nothing until
   * the minute is over.
   */
  function paceWait(card: LiveCard): number {
    const gap = Math.round((runs.size * 60_000) / LIVE_WRITES_PER_MINUTE);
    return Math.max(0, gap - (deps.now() - (card.lastLiveOpAt ?? 0)));
  }

  async function turnStreamingOn(card: LiveCard): Promise<void> {
    await cardOp(
      card,
      (seq) => deps.feishu.setCardStreaming(card.cardId!, { streaming: true }, seq),
      CONTROL,
    );
    card.streaming = true;
    card.streamingSince = deps.now();
  }

  /**
   * One sequenced operation on a card: within the card's own rate, with a sequence above every
   * earlier one — also across restarts, because it grows with the card's age in milliseconds.
   */
  async function cardOp(
    card: LiveCard,
    op: (sequence: number) => Promise<void>,
    kind: OpKind = 'content',
  ): Promise<void> {
    if (kind === 'content') {
      const wait = paceWait(card);
      if (wait > 0) throw new TryLater(wait);
    }
    const wait = cardOps.tryTake(card.cardId!);
    if (wait > 0) throw new TryLater(wait);
    if (kind === 'content') card.lastLiveOpAt = deps.now();
    const sequence = () =>
      Math.max(card.lastSequence + 1, Math.min(2_000_000_000, deps.now() - card.createdAt));
    card.lastSequence = sequence();
    try {
      await op(card.lastSequence);
    } catch (error) {
      if (failureOf(error) !== 'sequence') throw error;
      // Someone used a higher sequence (an earlier life of this process): jump past it once.
      card.lastSequence += 10_000;
      await op(card.lastSequence);
    }
  }

  // ── interactive card, PATCHed ────────────────────────────────────────────────────────────

  async function writeInteractive(
    run: RunCards,
    view: RunView,
    page: RunPage,
    role: PageRole,
  ): Promise<void> {
    const urgent = role !== 'live';
    const structure = JSON.stringify(page.card);
    const live = run.live;
    if (!live) {
      const messageId = await deliver(
        view,
        (target) => deps.feishu.replyCardOnce(target, page.card, { urgent }),
        (chatId) => deps.feishu.sendCard(chatId, page.card),
      );
      run.live = {
        messageId,
        createdAt: deps.now(),
        lastSequence: 0,
        streaming: false,
        streamingSince: 0,
        structure,
      };
      deps.onCardCreated?.(view.scopeId, view.runId, { messageId });
      return;
    }
    if (live.structure === structure) return;
    const wait = patches.tryTake(live.messageId);
    if (wait > 0) throw new TryLater(wait);
    try {
      await deps.feishu.patchCard(live.messageId, page.card, { urgent });
      live.structure = structure;
    } catch (error) {
      if (failureOf(error) !== 'message_gone') throw error;
      // Recalled or too old to edit: carry on in a new message instead of retrying forever.
      delete run.live;
      return writeInteractive(run, view, page, role);
    }
  }

  // ── text: the last resort ────────────────────────────────────────────────────────────────

  async function writeText(run: RunCards, view: RunView, role: PageRole): Promise<void> {
    // Messages cannot be edited into a stream; only the final answer is sent.
    if (role !== 'final') return;
    const target = replyTargetOf(view);
    if (!target) throw new Error('run has no message to reply to');
    const outcome = view.agent.outcome ?? 'failed';
    const reason = view.agent.error ?? view.note;
    const text = `**[${outcome}]**${reason ? ` ${reason}` : ''}\n\n${answerText(view.agent)}`.trim();
    const chunks = splitForTextMessages(text);
    for (let i = run.textChunksSent; i < chunks.length; i++) {
      const chunk = chunks[i] as string;
      await deps.feishu.replyMarkdown(target, chunk).catch(async (error: unknown) => {
        if (failureOf(error) === 'rate_limited') throw error;
        // A post refused (e.g. markdown it cannot take): plain text always goes.
        await deps.feishu.replyText(target, chunk);
      });
      run.textChunksSent = i + 1;
    }
    deps.logger.warn({ runId: view.runId }, 'run card unavailable; final answer sent as messages');
  }

  /** Reply to the run's last message; if that message is gone, post in the chat instead. */
  async function deliver(
    view: RunView,
    reply: (target: ReplyTarget) => Promise<string>,
    send: (chatId: string) => Promise<string>,
  ): Promise<string> {
    const target = replyTargetOf(view);
    if (!target) throw new Error('run has no message to reply to');
    try {
      return await reply(target);
    } catch (error) {
      if (failureOf(error) !== 'message_gone') throw error;
      return send(target.chatId);
    }
  }

  return Object.assign(flushCard, { forget, activeRuns: () => runs.size });
}

function replyTargetOf(view: RunView): ReplyTarget | undefined {
  const last = view.inputs[view.inputs.length - 1];
  if (!last) return undefined;
  return replyTargetFor(last);
}

function handleOf(card: LiveCard): RunCardHandle {
  return {
    messageId: card.messageId,
    ...(card.cardId ? { cardId: card.cardId, cardCreatedAt: card.createdAt } : {}),
  };
}

function setWritten(card: LiveCard, structure: string, streamText: string | undefined): void {
  card.structure = structure;
  if (streamText === undefined) delete card.streamText;
  else card.streamText = streamText;
}

/**
 * The page's layout without the streamed text and the footer: pages with equal layouts differ
 * only in that text (a typewriter update), and the footer's clock, which ticks every second,
 * is refreshed with the next layout change.
 */
function structureOf(page: RunPage): string {
  return JSON.stringify(page.card, (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null || !('element_id' in value)) return value;
    const element = value as { element_id?: unknown };
    if (element.element_id === 'footer' || element.element_id === page.stream?.elementId) {
      return { ...element, content: '' };
    }
    return value;
  });
}

function withConfig(card: CardJson, extra: Record<string, unknown>): CardJson {
  return { ...card, config: { ...(card.config as Record<string, unknown>), ...extra } };
}

function summaryOf(card: CardJson): string {
  const summary = (card.config as { summary?: { content?: string } } | undefined)?.summary?.content;
  return summary ?? '';
}

function failureOf(error: unknown): FeishuFailure | undefined {
  return error instanceof FeishuApiError ? error.failure : undefined;
}

/** Where a run goes when its current form fails for good: CardKit → interactive → text. */
function stepDown(mode: SinkMode, error: unknown): SinkMode | undefined {
  if (error instanceof TryLater) return undefined;
  const failure = failureOf(error);
  if (failure === 'rate_limited' || failure === 'transient') return undefined;
  if (mode === 'cardkit') return 'im';
  if (mode === 'im' && failure !== undefined && failure !== 'auth') return 'text';
  return undefined;
}

function toFlushFailure(error: unknown): FlushFailure {
  if (error instanceof TryLater) {
    return { kind: 'rate_limited', retryAfterMs: error.retryAfterMs, message: error.message };
  }
  if (error instanceof FeishuApiError && error.failure === 'rate_limited') {
    return {
      kind: 'rate_limited',
      message: error.message,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
}

function definedOnly(deps: CardSinkDeps): Partial<typeof DEFAULTS> {
  const picked: Partial<typeof DEFAULTS> = {};
  if (deps.cardOpsPerSecond !== undefined) picked.cardOpsPerSecond = deps.cardOpsPerSecond;
  if (deps.patchIntervalMs !== undefined) picked.patchIntervalMs = deps.patchIntervalMs;
  if (deps.streamingRefreshMs !== undefined) picked.streamingRefreshMs = deps.streamingRefreshMs;
  return picked;
}
