import type { AgentEvent, AgentRunner, RunRequest } from '../../src/agents/types.js';
import { RunStopped } from '../../src/agents/types.js';

/** One run of the scripted agent, driven by the test. */
export interface ScriptedRun {
  request: RunRequest;
  aborted: boolean;
  ended: boolean;
  push(event: AgentEvent): void;
  /** Finish the run with a `done` event. */
  finish(outcome?: 'completed' | 'failed', error?: string): void;
  /** Throw from the agent stream, as a crashing backend would. */
  crash(error: Error): void;
  /** After an abort (with `exitOnAbort: false`): let the stopped agent exit now. */
  exitAfterStop(): void;
  /** The reason the run was told to stop, if it was. */
  stopReason?: 'interrupted' | 'timeout';
  /** Steers the test has not answered yet, oldest first. */
  pendingSteers: { text: string; answer(accepted: boolean): void }[];
  /** Texts the run took in by steering. */
  acceptedSteers: string[];
  /** Answer the oldest pending steer: taken into the turn, or refused. */
  answerSteer(accepted: boolean): void;
}

/**
 * An AgentRunner whose events the test pushes. Honours the AbortSignal like a real
 * backend: an abort ends the stream with `done` interrupted/timeout.
 */
export class ScriptedAgent implements AgentRunner {
  readonly name = 'scripted';
  readonly runs: ScriptedRun[] = [];

  /**
   * @param exitOnAbort true: an aborted run ends at once, like a real backend.
   *   false: it ends only when the test calls `exitAfterStop()` (to model slow or hung exits).
   */
  constructor(private readonly options: { exitOnAbort?: boolean; canSteer?: boolean } = {}) {
    if (options.canSteer) this.steer = (runId, text) => this.#steer(runId, text);
  }

  steer?: (runId: string, text: string) => Promise<boolean>;

  #steer(runId: string, text: string): Promise<boolean> {
    const run = this.runs.find((r) => r.request.runId === runId && !r.ended);
    if (!run) return Promise.resolve(false);
    return new Promise((resolve) => {
      run.pendingSteers.push({
        text,
        answer: (accepted) => {
          if (accepted) run.acceptedSteers.push(text);
          resolve(accepted);
        },
      });
    });
  }

  get current(): ScriptedRun {
    const run = this.runs[this.runs.length - 1];
    if (!run) throw new Error('no run has started');
    return run;
  }

  live(): ScriptedRun[] {
    return this.runs.filter((r) => !r.ended);
  }

  async *run(request: RunRequest, signal: AbortSignal): AsyncIterable<AgentEvent> {
    const queue: (AgentEvent | Error)[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    let exitRequested = false;
    const run: ScriptedRun = {
      request,
      aborted: false,
      ended: false,
      exitAfterStop: () => {
        exitRequested = true;
        notify();
      },
      push: (event) => {
        queue.push(event);
        notify();
      },
      finish: (outcome = 'completed', error) => {
        queue.push({ type: 'done', outcome, ...(error ? { error } : {}) });
        notify();
      },
      crash: (error) => {
        queue.push(error);
        notify();
      },
      pendingSteers: [],
      acceptedSteers: [],
      answerSteer: (accepted) => run.pendingSteers.shift()?.answer(accepted),
    };
    this.runs.push(run);
    const onAbort = () => {
      run.aborted = true;
      run.stopReason = signal.reason instanceof RunStopped ? signal.reason.reason : 'interrupted';
      notify();
    };
    const exitOnAbort = this.options.exitOnAbort ?? true;
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (true) {
        if (signal.aborted && (exitOnAbort || exitRequested)) {
          yield { type: 'done', outcome: run.stopReason ?? 'interrupted' };
          return;
        }
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (next instanceof Error) throw next;
        yield next;
        if (next.type === 'done') return;
      }
    } finally {
      run.ended = true;
      // A turn that is over takes no more input (as Codex answers "no active turn to steer").
      for (const pending of run.pendingSteers.splice(0)) pending.answer(false);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
