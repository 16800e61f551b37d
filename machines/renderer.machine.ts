import { assign, fromPromise, setup } from 'xstate';
import { initialRunView, type RunView, reduceRunView } from '../src/cards/run-view.js';
import type { RenderUpdate } from './scope.machine.js';

/** Opaque handle to the card a run is shown on (the sink decides what it holds). */
export interface CardRef {
  messageId: string;
  [key: string]: unknown;
}

/** One write of a run's current view to its card. */
export interface FlushRequest {
  runId: string;
  view: RunView;
  cardRef?: CardRef;
  /** Counts folds; tells which content a finished flush carried. */
  version: number;
}

export interface FlushResult {
  cardRef: CardRef;
  version: number;
}

/** How a flush failed, as the sink classifies it; the machine only needs to know when to retry. */
export interface FlushFailure {
  kind: 'rate_limited' | 'failed';
  retryAfterMs?: number;
  message: string;
}

export interface RendererInput {
  runId: string;
  /** Minimum time between two writes to the same card (the platform's per-card budget). */
  flushIntervalMs: number;
  /** A card that already exists for this run (a restored run). */
  cardRef?: CardRef;
  /** Give up on a card after this many consecutive non-rate-limit failures. */
  maxFailures?: number;
}

export interface RendererContext {
  runId: string;
  view: RunView;
  version: number;
  flushedVersion: number;
  cardRef?: CardRef;
  flushIntervalMs: number;
  retryDelayMs: number;
  consecutiveFailures: number;
  maxFailures: number;
}

const DEFAULT_MAX_FAILURES = 5;
const FALLBACK_RETRY_MS = 1000;

/**
 * One run's card. Folds updates into a RunView, writes it on a throttle with a
 * leading and a trailing edge (coalescing everything in between), writes at once
 * when the run finishes, backs off on rate limits, and only stops once the final
 * content has landed (or the sink gave up after repeated failures).
 */
export const rendererMachine = setup({
  types: {
    context: {} as RendererContext,
    events: {} as RenderUpdate,
    input: {} as RendererInput,
  },
  actors: {
    // Provided by the runtime: renders the view and writes the card.
    flushCard: fromPromise<FlushResult, FlushRequest>(async ({ input }) => ({
      cardRef: input.cardRef ?? { messageId: '' },
      version: input.version,
    })),
  },
  delays: {
    flushInterval: ({ context }) => context.flushIntervalMs,
    retryDelay: ({ context }) => context.retryDelayMs,
  },
  actions: {
    // A finished view no longer changes: an update after the finish must not look like new
    // content, or the card would be written again at once, outside its per-card budget.
    fold: assign(({ context, event }) =>
      context.view.stage === 'finished'
        ? {}
        : { view: reduceRunView(context.view, event), version: context.version + 1 },
    ),
    recordFlushed: assign(({ event }) => {
      const output = (event as unknown as { output: FlushResult }).output;
      return { cardRef: output.cardRef, flushedVersion: output.version, consecutiveFailures: 0 };
    }),
    // Never sooner than the card's own interval: Feishu may say `x-ogw-ratelimit-reset: 0`,
    // and retrying at once would hammer a card that is already over its budget.
    recordRateLimit: assign({
      retryDelayMs: ({ context, event }) =>
        Math.max(context.flushIntervalMs, failureOf(event)?.retryAfterMs ?? FALLBACK_RETRY_MS),
    }),
    recordFailure: assign(({ context }) => ({
      consecutiveFailures: context.consecutiveFailures + 1,
      // Never sooner than the card's own write interval.
      retryDelayMs: Math.max(
        context.flushIntervalMs,
        Math.min(30_000, FALLBACK_RETRY_MS * 2 ** context.consecutiveFailures),
      ),
    })),
    /** Effect: a card that could not be written at all. Provided by the runtime (logs it). */
    reportGaveUp: (_, _params: { runId: string; reason: string }) => {},
  },
  guards: {
    isDirty: ({ context }) => context.version > context.flushedVersion,
    isFinishUpdate: ({ event }) => event.type === 'render.finish',
    finalContentLanded: ({ context, event }) =>
      context.view.stage === 'finished' &&
      (event as unknown as { output: FlushResult }).output.version === context.version,
    finishedSinceRequest: ({ context, event }) =>
      context.view.stage === 'finished' &&
      (event as unknown as { output: FlushResult }).output.version < context.version,
    isRateLimited: ({ event }) => failureOf(event)?.kind === 'rate_limited',
    // Only a finished run may be given up on: before that, later updates still need this
    // renderer (a fresh one would not know the run's messages), so it keeps backing off.
    tooManyFailures: ({ context }) =>
      context.view.stage === 'finished' && context.consecutiveFailures + 1 >= context.maxFailures,
  },
}).createMachine({
  id: 'renderer',
  context: ({ input }) => ({
    runId: input.runId,
    view: initialRunView(input.runId),
    version: 0,
    flushedVersion: 0,
    ...(input.cardRef ? { cardRef: input.cardRef } : {}),
    flushIntervalMs: input.flushIntervalMs,
    retryDelayMs: FALLBACK_RETRY_MS,
    consecutiveFailures: 0,
    maxFailures: input.maxFailures ?? DEFAULT_MAX_FAILURES,
  }),
  initial: 'ready',
  states: {
    ready: {
      description: 'Nothing written recently: the next update is written at once (leading edge).',
      on: { 'render.*': { target: 'flushing', actions: 'fold' } },
    },
    flushing: {
      description: 'One write in flight; updates meanwhile are folded and coalesced.',
      invoke: {
        src: 'flushCard',
        input: ({ context }): FlushRequest => ({
          runId: context.runId,
          view: context.view,
          version: context.version,
          ...(context.cardRef ? { cardRef: context.cardRef } : {}),
        }),
        onDone: [
          { guard: 'finalContentLanded', target: 'done', actions: 'recordFlushed' },
          // The run finished during this write: write the final content at once.
          { guard: 'finishedSinceRequest', target: 'flushing', reenter: true, actions: 'recordFlushed' },
          { target: 'cooling', actions: 'recordFlushed' },
        ],
        onError: [
          { guard: 'isRateLimited', target: 'backingOff', actions: 'recordRateLimit' },
          {
            guard: 'tooManyFailures',
            target: 'done',
            actions: {
              type: 'reportGaveUp',
              params: ({ context, event }) => ({
                runId: context.runId,
                reason: failureOf(event)?.message ?? 'unknown failure',
              }),
            },
          },
          { target: 'backingOff', actions: 'recordFailure' },
        ],
      },
      on: { 'render.*': { actions: 'fold' } },
    },
    cooling: {
      description: 'Wrote recently: wait out the interval, then write whatever changed (trailing edge).',
      after: {
        flushInterval: [{ guard: 'isDirty', target: 'flushing' }, { target: 'ready' }],
      },
      on: {
        'render.*': [
          // A finished run is written at once; the final flush fits the per-card budget
          // because it replaces the next trailing write.
          { guard: 'isFinishUpdate', target: 'flushing', actions: 'fold' },
          { actions: 'fold' },
        ],
      },
    },
    backingOff: {
      description: 'Feishu said slow down (or failed): wait, then write the latest content.',
      after: { retryDelay: 'flushing' },
      on: { 'render.*': { actions: 'fold' } },
    },
    done: { type: 'final' },
  },
});

function failureOf(event: { type: string }): FlushFailure | undefined {
  const error = (event as { error?: unknown }).error;
  if (error && typeof error === 'object' && 'kind' in error) return error as FlushFailure;
  return undefined;
}
