import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { assertInvariants, createScopeSut, message, type ScopeSut } from './scope.harness.js';

type Command =
  | { kind: 'message' }
  | { kind: 'stop' }
  | { kind: 'steer' }
  | { kind: 'new' }
  | { kind: 'timeout'; seconds: number }
  | { kind: 'grant' }
  | { kind: 'agentEvent' }
  | { kind: 'agentSession' }
  | { kind: 'agentFinish' }
  | { kind: 'agentFail' }
  | { kind: 'agentCrash' }
  | { kind: 'agentExit' }
  | { kind: 'advance'; ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'message' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'steer' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'new' } as const) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 10, max: 900 }).map((seconds) => ({ kind: 'timeout', seconds }) as const),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'grant' } as const) },
  { weight: 3, arbitrary: fc.constant({ kind: 'agentEvent' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'agentSession' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'agentFinish' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'agentFail' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'agentCrash' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'agentExit' } as const) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 5_000, max: 700_000 }))
      .map((ms) => ({ kind: 'advance', ms }) as const),
  },
);

let counter = 0;
async function apply(sut: ScopeSut, cmd: Command): Promise<void> {
  const live = sut.agent.live()[0];
  switch (cmd.kind) {
    case 'message':
    case 'steer': {
      counter += 1;
      const input = message(`om_p${counter}`, `text ${counter}`);
      sut.sent.push(input.messageId);
      sut.actor.send(
        cmd.kind === 'message' ? { type: 'input.message', input } : { type: 'control.steer', input },
      );
      break;
    }
    case 'stop':
      sut.actor.send({ type: 'control.stop' });
      break;
    case 'new': {
      const { context } = sut.actor.getSnapshot();
      sut.dropped.push(
        ...context.pendingInputs.map((i) => i.messageId),
        ...(context.activeRun?.inputs ?? []).map((i) => i.messageId),
      );
      sut.actor.send({ type: 'control.new' });
      break;
    }
    case 'timeout':
      sut.actor.send({ type: 'control.timeout', seconds: cmd.seconds });
      break;
    case 'grant':
      sut.actor.send({ type: 'pool.granted' });
      break;
    case 'agentEvent':
      live?.push({ type: 'text', itemId: 'i', text: 'x', mode: 'delta' });
      break;
    case 'agentSession':
      live?.push({ type: 'session', sessionId: `thread-${counter}` });
      break;
    case 'agentFinish':
      live?.finish();
      break;
    case 'agentFail':
      live?.finish('failed', 'model error');
      break;
    case 'agentCrash':
      live?.crash(new Error('backend crashed'));
      break;
    case 'agentExit':
      live?.exitAfterStop();
      break;
    case 'advance':
      await vi.advanceTimersByTimeAsync(cmd.ms);
      break;
  }
  await sut.settle();
}

/** Let everything run out: grant slots, finish agents, let timers fire. A healthy scope always comes to rest. */
async function drain(sut: ScopeSut): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const snapshot = sut.actor.getSnapshot();
    if (snapshot.status === 'done') return;
    if ((snapshot.matches('idle') || snapshot.matches('holding')) && sut.agent.live().every((r) => r.aborted))
      return;
    sut.actor.send({ type: 'pool.granted' });
    await sut.settle();
    for (const run of sut.agent.live()) {
      if (run.aborted) run.exitAfterStop();
      else run.finish();
    }
    await sut.settle();
    await vi.advanceTimersByTimeAsync(1_000);
  }
  throw new Error(`scope did not come to rest: ${JSON.stringify(sut.actor.getSnapshot().value)}`);
}

describe('scope machine under random interleavings', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('never loses a message, never runs two runs at once, never gets stuck', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
        const sut = createScopeSut();
        for (const cmd of commands) {
          await apply(sut, cmd);
          assertInvariants(sut);
        }
        await drain(sut);
        assertInvariants(sut);
        // At rest every message is accounted for: it ran (a run card opened with it), is kept, or /new dropped it.
        const { context } = sut.actor.getSnapshot();
        const ran = new Set(
          sut.effects.renders.flatMap((r) =>
            r.update.type === 'render.open' || r.update.type === 'render.inputs'
              ? r.update.inputs.map((i) => i.messageId)
              : [],
          ),
        );
        const kept = new Set(context.pendingInputs.map((i) => i.messageId));
        const dropped = new Set(sut.dropped);
        for (const id of sut.sent)
          expect(ran.has(id) || kept.has(id) || dropped.has(id), `${id} lost`).toBe(true);
        // Every run that opened a card also says how it ended.
        const opened = new Set(
          sut.effects.renders.filter((r) => r.update.type === 'render.open').map((r) => r.runId),
        );
        const finished = new Set(
          sut.effects.renders.filter((r) => r.update.type === 'render.finish').map((r) => r.runId),
        );
        expect([...opened].filter((id) => !finished.has(id))).toEqual([]);
        sut.actor.stop();
      }),
      { numRuns: 300 },
    );
  });
});
