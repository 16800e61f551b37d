import type { Logger } from 'pino';
import { type Actor, createActor, fromPromise, type InspectionEvent } from 'xstate';
import {
  type CardRef,
  type FlushRequest,
  type FlushResult,
  rendererMachine,
} from '../../machines/renderer.machine.js';
import type { RenderUpdate } from '../../machines/scope.machine.js';
import type { RunView } from '../cards/run-view.js';

export interface RenderHubDeps {
  flushCard: (request: FlushRequest) => Promise<FlushResult>;
  flushIntervalMs: number;
  logger: Logger;
  inspect?: (event: InspectionEvent) => void;
  /** A card could not be written at all (after repeated failures). */
  onGaveUp?: () => void;
  /** A run's renderer is done: its final content landed (or was given up on). */
  onFinished?: (view: RunView) => void;
}

/**
 * One renderer actor per run. They live outside the scope actors on purpose: a
 * run's final card must still land after its scope moved on, was evicted, or the
 * daemon began shutting down.
 */
export class RenderHub {
  readonly #renderers = new Map<string, Actor<typeof rendererMachine>>();
  readonly #machine;

  constructor(private readonly deps: RenderHubDeps) {
    this.#machine = rendererMachine.provide({
      actors: { flushCard: fromPromise<FlushResult, FlushRequest>(({ input }) => deps.flushCard(input)) },
      actions: {
        reportGaveUp: (_, params) => {
          deps.onGaveUp?.();
          deps.logger.error(params, 'run card could not be written; gave up');
        },
      },
    });
  }

  /** Route one update to its run's renderer, creating it on `render.open` (or for a restored card). */
  update(runId: string, update: RenderUpdate, existingCard?: CardRef): void {
    let renderer = this.#renderers.get(runId);
    if (!renderer) {
      renderer = createActor(this.#machine, {
        input: {
          runId,
          flushIntervalMs: this.deps.flushIntervalMs,
          ...(existingCard ? { cardRef: existingCard } : {}),
        },
        ...(this.deps.inspect ? { inspect: this.deps.inspect } : {}),
      });
      this.#renderers.set(runId, renderer);
      const created = renderer;
      renderer.subscribe({
        complete: () => {
          this.#renderers.delete(runId);
          this.deps.onFinished?.(created.getSnapshot().context.view);
        },
        error: (error) => {
          this.deps.logger.error({ err: error, runId }, 'renderer crashed');
          this.#renderers.delete(runId);
        },
      });
      renderer.start();
    }
    renderer.send(update);
  }

  get activeRuns(): number {
    return this.#renderers.size;
  }

  /** Wait until every run's final content has landed, or the deadline. */
  async settle(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (this.#renderers.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.#renderers.size > 0)
      this.deps.logger.warn({ runs: [...this.#renderers.keys()] }, 'cards still updating at shutdown');
  }

  stopAll(): void {
    for (const renderer of this.#renderers.values()) renderer.stop();
    this.#renderers.clear();
  }
}
