import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RendererInput } from '../../machines/renderer.machine.js';
import { rendererMachine } from '../../machines/renderer.machine.js';
import { TransitionCoverage } from '../support/mbt/coverage.js';
import {
  assertInvariants,
  createRendererModel,
  createRendererSut,
  eventExecutors,
  FAILURES,
  INPUT,
  SEEDS,
  SIMPLE_INPUT,
  UPDATES,
} from './renderer.harness.js';

/**
 * Tests generated from the renderer machine itself: every path runs against the real
 * machine with a scripted flush (the test resolves or rejects each write), on fake
 * timers, and checks the model's abstract state and the spec's invariants after every step.
 */
const shortest = createRendererModel('transitions').getShortestPaths();
const simple = createRendererModel('states', SIMPLE_INPUT).getSimplePaths();
const seeded = Object.entries(SEEDS).map(
  ([name, input]) => [name, input, createRendererModel('transitions', input).getShortestPaths()] as const,
);
const coverage = new TransitionCoverage(rendererMachine);

type Path = (typeof shortest)[number];
/** Test names: the path's events, not its (long) representative context. */
const named = (paths: Path[]) =>
  paths.map(
    (p) =>
      [
        p.steps.map((s) => s.event.type.replace(/^xstate\.(\w+)\.(\w+)\..*$/, '$1.$2')).join(' → '),
        p,
      ] as const,
  );

describe('renderer machine, generated paths', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const run = async (path: Path, input: RendererInput = INPUT) => {
    const sut = createRendererSut(coverage, input);
    await path.test({
      events: eventExecutors(sut) as never,
      states: { '*': (state: never) => assertInvariants(sut, state) } as never,
    });
    sut.actor.stop();
  };

  describe.each(named(shortest))('shortest: %s', (_d, path) => {
    it('holds at every step', () => run(path));
  });
  describe.each(named(simple))('simple: %s', (_d, path) => {
    it('holds at every step', () => run(path, SIMPLE_INPUT));
  });
  for (const [name, input, paths] of seeded) {
    describe.each(named(paths))(`${name}: %s`, (_d, path) => {
      it('holds at every step', () => run(path, input));
    });
  }

  it('coalesces a burst into one trailing write carrying the latest view', async () => {
    const sut = createRendererSut(undefined, INPUT);
    await sut.send(UPDATES['render.open']);
    await sut.succeed();
    for (let i = 0; i < 50; i++) await sut.send(UPDATES['render.agent']);
    expect(sut.flushes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(INPUT.flushIntervalMs);
    expect(sut.flushes).toHaveLength(2);
    expect(sut.flushes[1]!.request.version).toBe(51);
    assertInvariants(sut);
  });

  it('writes the final view at once, and again at once if more came during that write', async () => {
    const sut = createRendererSut(undefined, INPUT);
    await sut.send(UPDATES['render.open']);
    await sut.send(UPDATES['render.agent']);
    await sut.send(UPDATES['render.finish']);
    await sut.succeed();
    // The first write carried only the open; the finish is written without waiting.
    expect(sut.flushes).toHaveLength(2);
    expect(sut.flushes[1]!.request.view.stage).toBe('finished');
    await sut.succeed();
    expect(sut.actor.getSnapshot().status).toBe('done');
    assertInvariants(sut);
  });

  it("keeps a live run's card retrying, and gives up only on a finished run after maxFailures in a row", async () => {
    const sut = createRendererSut(undefined, { ...INPUT, maxFailures: 3 });
    await sut.send(UPDATES['render.open']);
    // Before the run finishes a renderer never gives up: later updates still need it.
    for (const delay of [1_000, 2_000, 4_000]) {
      await sut.fail(FAILURES.failed!);
      expect(sut.actor.getSnapshot().status).toBe('active');
      await vi.advanceTimersByTimeAsync(delay);
      assertInvariants(sut);
    }
    await sut.send(UPDATES['render.finish']);
    await sut.fail(FAILURES.failed!);
    expect(sut.actor.getSnapshot().status).toBe('done');
    expect(sut.gaveUp).toEqual([{ runId: INPUT.runId, reason: 'card rejected' }]);
    assertInvariants(sut);
  });
});

afterAll(() => {
  // Fails the file when a transition of the real machine was never taken by any path.
  expect(
    coverage.missing(),
    `untaken transitions (${(coverage.ratio() * 100).toFixed(1)} % covered)`,
  ).toEqual([]);
});

it('generates a useful number of paths', () => {
  expect(shortest.length).toBeGreaterThan(10);
  expect(simple.length).toBeGreaterThan(10);
});
