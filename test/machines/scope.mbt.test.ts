import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scopeMachine } from '../../machines/scope.machine.js';
import { TransitionCoverage } from '../support/mbt/coverage.js';
import {
  assertInvariants,
  createScopeModel,
  createScopeSut,
  eventExecutors,
  RESTORED_SEEDS,
  SEED,
  STEER_SEED,
} from './scope.harness.js';

/**
 * Tests generated from the scope machine itself: every path runs against the real
 * machine with the real runner actor over a scripted agent, on fake timers, and
 * checks the model's state and the spec's invariants after every step.
 */
const shortest = createScopeModel('transitions').getShortestPaths();
const simple = createScopeModel('states').getSimplePaths();
const steering = createScopeModel('transitions', STEER_SEED).getShortestPaths();
const coverage = new TransitionCoverage(scopeMachine);

describe('scope machine, generated paths', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const run = async (path: (typeof shortest)[number], seed = SEED) => {
    const sut = createScopeSut(coverage, seed);
    await path.test({
      events: eventExecutors(sut) as never,
      states: { '*': (state: never) => assertInvariants(sut, state) } as never,
    });
    sut.actor.stop();
  };

  describe.each(shortest.map((p) => [p.description, p] as const))('shortest: %s', (_d, path) => {
    it('holds at every step', () => run(path));
  });
  describe.each(simple.map((p) => [p.description, p] as const))('simple: %s', (_d, path) => {
    it('holds at every step', () => run(path));
  });
  describe.each(steering.map((p) => [p.description, p] as const))('steering: %s', (_d, path) => {
    it('holds at every step', () => run(path, STEER_SEED));
  });
  for (const [name, seed] of Object.entries(RESTORED_SEEDS)) {
    const restoredPaths = createScopeModel('states', seed).getShortestPaths();
    describe.each(restoredPaths.map((p) => [p.description, p] as const))(
      `restored (${name}): %s`,
      (_d, path) => {
        it('holds at every step', () => run(path, seed));
      },
    );
  }
  it('reports a run that was in flight at a crash as interrupted, and never re-runs it', async () => {
    const seed = RESTORED_SEEDS['interrupted run and kept messages']!;
    const sut = createScopeSut(undefined, seed);
    expect(sut.effects.interrupted).toEqual(['r-old-2']);
    expect(sut.actor.getSnapshot().matches('debouncing')).toBe(true);
    await vi.advanceTimersByTimeAsync(seed.settings.debounceMs);
    sut.actor.send({ type: 'pool.granted' });
    await sut.settle();
    expect(sut.agent.runs.map((r) => r.request.prompt)).toEqual(['kept too']);
    expect(sut.effects.persisted[0]?.inflight).toBeUndefined();
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
  expect(simple.length).toBeGreaterThanOrEqual(shortest.length);
});
