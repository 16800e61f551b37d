import { fromCallback } from 'xstate';
import type {
  AgentEvent,
  AgentRunner,
  RunInteractions,
  RunOutcome,
  RunRequest,
} from '../src/agents/types.js';
import { RunStopped } from '../src/agents/types.js';
import type { MessageInput } from '../src/core/bridge-input.js';

/** Events a runner actor sends back to the scope that invoked it. */
export type RunnerEvent =
  | { type: 'run.started'; runId: string; at: number }
  | { type: 'runner.event'; runId: string; event: AgentEvent; at: number }
  /** A message sent during the run reached the agent's turn (it is part of this run now). */
  | { type: 'run.steered'; runId: string; messageId: string }
  /** The turn could not take it (it was ending, or the agent cannot steer): it waits for the next run. */
  | { type: 'run.steerRefused'; runId: string; messageId: string }
  | { type: 'run.finished'; runId: string; outcome: RunOutcome; error?: string; at: number };

/** Commands the scope may send to its running runner. */
export type RunnerCommand =
  | { type: 'runner.stop'; reason: 'interrupted' | 'timeout' }
  | { type: 'runner.steer'; input: MessageInput };

export interface RunnerDeps {
  agent: AgentRunner;
  now: () => number;
  /** Called for every agent event before the scope sees it (persist the session id at once). */
  onAgentEvent?: (request: RunRequest, event: AgentEvent) => void;
  /**
   * Merge text deltas of one item that arrive within this window into one event (0 = off).
   * Token streams can send hundreds a second; a short window spares the scope and renderer
   * most transitions while adding little to how soon text shows. A function is asked anew for
   * each window (the daemon widens it when many runs stream and cards are paced anyway).
   */
  batchTextMs?: number | (() => number);
  /** Who answers the agent's approval requests and questions during this run. */
  interactions?: (request: RunRequest) => RunInteractions | undefined;
}

type TextEvent = Extract<AgentEvent, { type: 'text' }>;

/**
 * One agent run as an actor. Invoked by the scope's `running` state: leaving the
 * state runs the cleanup, which aborts the run (the codex child dies).
 * Always ends with exactly one `run.finished` unless it was stopped from outside.
 */
export function createRunnerLogic(deps: RunnerDeps) {
  return fromCallback<RunnerCommand, RunRequest, RunnerEvent>(({ input: request, sendBack, receive }) => {
    const abort = new AbortController();
    let settled = false;
    // Steers still being answered: their outcome reaches the scope before run.finished does.
    const steering = new Set<Promise<void>>();
    receive((command) => {
      if (command.type === 'runner.stop') abort.abort(new RunStopped(command.reason));
      if (command.type === 'runner.steer') steer(command.input);
    });
    const steer = (input: MessageInput) => {
      const refuse = () =>
        sendBack({ type: 'run.steerRefused', runId: request.runId, messageId: input.messageId });
      if (!deps.agent.steer || settled) {
        refuse();
        return;
      }
      const attempt = deps.agent
        .steer(request.runId, input.text)
        .catch(() => false)
        .then((accepted) => {
          if (!accepted) return refuse();
          flushText();
          forward({ type: 'steered', text: input.text, by: input.actorId });
          sendBack({ type: 'run.steered', runId: request.runId, messageId: input.messageId });
        })
        .finally(() => steering.delete(attempt));
      steering.add(attempt);
    };

    const batchWindow = deps.batchTextMs ?? 0;
    const batchMs = () => (typeof batchWindow === 'function' ? batchWindow() : batchWindow);
    let bufferedText: TextEvent | undefined;
    let batchTimer: ReturnType<typeof setTimeout> | undefined;
    const forward = (event: AgentEvent) =>
      sendBack({ type: 'runner.event', runId: request.runId, event, at: deps.now() });
    const flushText = () => {
      if (batchTimer) clearTimeout(batchTimer);
      batchTimer = undefined;
      if (!bufferedText) return;
      const text = bufferedText;
      bufferedText = undefined;
      forward(text);
    };

    void (async () => {
      sendBack({ type: 'run.started', runId: request.runId, at: deps.now() });
      let outcome: RunOutcome | undefined;
      let error: string | undefined;
      try {
        const interactions = deps.interactions?.(request);
        for await (const event of deps.agent.run(request, abort.signal, interactions)) {
          deps.onAgentEvent?.(request, event);
          if (event.type === 'done') {
            outcome = event.outcome;
            error = event.error;
            break;
          }
          if (event.type === 'text' && event.mode === 'delta' && batchMs() > 0) {
            if (bufferedText?.itemId === event.itemId) {
              bufferedText = { ...bufferedText, text: bufferedText.text + event.text };
            } else {
              flushText();
              bufferedText = event;
            }
            batchTimer ??= setTimeout(flushText, batchMs());
            continue;
          }
          // Anything else keeps its place after the text before it.
          flushText();
          forward(event);
        }
        flushText();
        if (!outcome) {
          outcome = abort.signal.aborted ? 'interrupted' : 'failed';
          error = abort.signal.aborted ? undefined : 'the agent stream ended without an outcome';
        }
      } catch (caught) {
        outcome = 'failed';
        error = caught instanceof Error ? caught.message : String(caught);
      }
      flushText(); // text that arrived before a failure still reaches the card
      while (steering.size > 0) await Promise.allSettled([...steering]);
      settled = true;
      sendBack({
        type: 'run.finished',
        runId: request.runId,
        outcome,
        ...(error ? { error } : {}),
        at: deps.now(),
      });
    })();

    return () => {
      if (batchTimer) clearTimeout(batchTimer);
      if (!settled) abort.abort(new RunStopped('interrupted'));
    };
  });
}
