import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FlushFailure, RendererInput } from '../../machines/renderer.machine.js';
import type { RenderUpdate } from '../../machines/scope.machine.js';
import type { AgentEvent } from '../../src/agents/types.js';
import {
  assertInvariants,
  createRendererSut,
  message,
  type RendererSut,
  type ScriptedFlush,
  SETTINGS,
} from './renderer.harness.js';

type Command =
  | { kind: 'update'; update: RenderUpdate }
  | { kind: 'ok' }
  | { kind: 'fail'; failure: FlushFailure }
  | { kind: 'advance'; ms: number };

const agentEvent: fc.Arbitrary<AgentEvent> = fc.oneof(
  fc.record({
    type: fc.constant('text' as const),
    itemId: fc.constantFrom('a', 'b', 'c'),
    text: fc.string({ maxLength: 12 }),
    mode: fc.constantFrom('delta' as const, 'whole' as const),
  }),
  fc.record({
    type: fc.constant('reasoning' as const),
    itemId: fc.constantFrom('r1', 'r2'),
    text: fc.string(),
  }),
  fc.record({
    type: fc.constant('tool' as const),
    tool: fc.record({
      kind: fc.constant('command' as const),
      id: fc.constantFrom('t1', 't2'),
      status: fc.constantFrom(
        'started' as const,
        'updated' as const,
        'completed' as const,
        'failed' as const,
      ),
      command: fc.constantFrom('ls', 'npm test'),
      output: fc.string({ maxLength: 8 }),
    }),
  }),
  fc.record({ type: fc.constant('notice' as const), message: fc.string({ maxLength: 8 }) }),
  fc.record({ type: fc.constant('session' as const), sessionId: fc.constantFrom('th-1', 'th-2') }),
);

const liveUpdate: fc.Arbitrary<RenderUpdate> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.constant<RenderUpdate>({
      type: 'render.open',
      scopeId: 'chat:oc_render',
      inputs: [message('om_1', 'hi')],
      settings: SETTINGS,
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 9 })
      .map((position) => ({ type: 'render.waiting', position }) as const),
  },
  { weight: 1, arbitrary: fc.nat(1_000).map((at) => ({ type: 'render.started', at }) as const) },
  { weight: 8, arbitrary: agentEvent.map((event) => ({ type: 'render.agent', event, at: 5 }) as const) },
  {
    weight: 1,
    arbitrary: fc.nat(99).map(
      (n) =>
        ({
          type: 'render.inputs',
          inputs: [message('om_1', 'hi'), message(`om_p${n}`, 'more')],
        }) satisfies RenderUpdate,
    ),
  },
);
const finish: fc.Arbitrary<RenderUpdate> = fc.record({
  type: fc.constant('render.finish' as const),
  outcome: fc.constantFrom(
    'completed' as const,
    'interrupted' as const,
    'timeout' as const,
    'failed' as const,
  ),
  at: fc.nat(10_000),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: liveUpdate.map((update) => ({ kind: 'update', update }) as const) },
  { weight: 4, arbitrary: fc.constant({ kind: 'ok' } as const) },
  {
    weight: 2,
    arbitrary: fc
      .option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3_000 })), { nil: undefined })
      .map(
        (retryAfterMs) =>
          ({
            kind: 'fail',
            failure: {
              kind: 'rate_limited',
              message: 'HTTP 429',
              ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
            },
          }) as const,
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constant({ kind: 'fail', failure: { kind: 'failed', message: 'boom' } } as const),
  },
  {
    weight: 4,
    arbitrary: fc
      .oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 400, max: 5_000 }))
      .map((ms) => ({ kind: 'advance', ms }) as const),
  },
);

/** Commands with at most one finish, anywhere (or none: then the finish comes at the end). */
const scenario = fc
  .record({
    commands: fc.array(command, { minLength: 1, maxLength: 60 }),
    finish: fc.option(fc.tuple(finish, fc.nat()), { nil: undefined }),
    flushIntervalMs: fc.constantFrom(200, 250, 700, 1_000, 1_500),
  })
  .map(({ commands, finish: f, flushIntervalMs }) => {
    const all = [...commands];
    if (f) all.splice(f[1] % (all.length + 1), 0, { kind: 'update', update: f[0] });
    return { commands: all, flushIntervalMs };
  });

async function apply(sut: RendererSut, cmd: Command): Promise<void> {
  const inflight = sut.inflight().length > 0;
  switch (cmd.kind) {
    case 'update':
      return sut.send(cmd.update);
    case 'ok':
      if (inflight) await sut.succeed();
      return;
    case 'fail':
      if (inflight) await sut.fail(cmd.failure);
      return;
    case 'advance':
      await vi.advanceTimersByTimeAsync(cmd.ms);
      return;
  }
}

/** The run finishes (if it has not yet) and every write succeeds from now on: the renderer must finish. */
async function drain(sut: RendererSut): Promise<void> {
  if (sut.folded.stage !== 'finished') await sut.send({ type: 'render.finish', outcome: 'completed', at: 1 });
  for (let i = 0; i < 20 && sut.actor.getSnapshot().status !== 'done'; i++) {
    if (sut.inflight().length > 0) await sut.succeed();
    else await vi.advanceTimersByTimeAsync(30_000);
    assertInvariants(sut);
  }
}

/**
 * The spacing contract, stated on the recorded writes. For two consecutive writes A then B:
 * - A succeeded: B starts at least flushIntervalMs after A ended (so also after A started),
 *   except the immediate final write: B is the first write carrying the finished view.
 * - A failed: B is the retry after a backoff and starts exactly that backoff after A ended:
 *   rate limited → max(flushIntervalMs, retryAfterMs ?? 1000); failed → min(30 s, 1 s · 2^(n−1))
 *   for the n-th failure in a row (rate limits don't count, a success resets).
 */
function assertSpacing(flushes: ScriptedFlush[], input: RendererInput) {
  let failuresInRow = 0;
  for (let i = 1; i < flushes.length; i++) {
    const a = flushes[i - 1]!;
    const b = flushes[i]!;
    const settled = a.settled!;
    expect(settled, 'a write only starts once the previous one ended').toBeDefined();
    const gap = b.startedAt - settled.at;
    if (settled.ok) {
      failuresInRow = 0;
      const finalWrite = b.request.view.stage === 'finished' && a.request.view.stage !== 'finished';
      if (!finalWrite) {
        expect(gap, `write ${i} came ${gap} ms after a success`).toBeGreaterThanOrEqual(
          input.flushIntervalMs,
        );
        expect(b.startedAt - a.startedAt).toBeGreaterThanOrEqual(input.flushIntervalMs);
      }
    } else if (settled.failure.kind === 'rate_limited') {
      expect(gap, `retry ${i} after a rate limit`).toBe(
        Math.max(input.flushIntervalMs, settled.failure.retryAfterMs ?? 1_000),
      );
    } else {
      failuresInRow += 1;
      expect(gap, `retry ${i} after failure #${failuresInRow}`).toBe(
        Math.max(input.flushIntervalMs, Math.min(30_000, 1_000 * 2 ** (failuresInRow - 1))),
      );
    }
  }
}

describe('renderer machine under random updates, write results and time', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes the fold of every update, one write at a time, within the card budget, and always finishes', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ commands, flushIntervalMs }) => {
        const input: RendererInput = { runId: 'r-prop', flushIntervalMs };
        const sut = createRendererSut(undefined, input);
        for (const cmd of commands) {
          await apply(sut, cmd);
          assertInvariants(sut);
        }
        await drain(sut);
        const snapshot = sut.actor.getSnapshot();
        expect(snapshot.status, 'reaches done once writes succeed').toBe('done');
        assertSpacing(sut.flushes, input);
        if (sut.gaveUp.length === 0) {
          // Nothing coalesced away at the end: the last write is the fold of all updates.
          const last = sut.flushes.at(-1)!;
          expect(last.settled?.ok).toBe(true);
          expect(last.request.view).toEqual(sut.folded);
          expect(last.request.version).toBe(sut.version);
          expect(
            sut.flushes.filter((f) => f.settled?.ok && f.request.view.stage === 'finished'),
          ).toHaveLength(1);
        }
        sut.actor.stop();
      }),
      { numRuns: 250 },
    );
  });
});
