import {
  type AgentEvent,
  type AgentRunner,
  type RunRequest,
  RunStopped,
  type SandboxMode,
  type StopReason,
} from '../types.js';
import type {
  AppServerNotification,
  JsonValue,
  SandboxPolicy,
  ThreadResponse,
  ThreadStartParams,
  TurnStartParams,
} from './protocol.js';
import { RpcError } from './rpc.js';
import { CodexAppServer, type CodexAppServerOptions } from './server.js';
import { TurnTranslator } from './translate.js';

export type CodexAppServerRunnerOptions = ({ server: CodexAppServer } | CodexAppServerOptions) & {
  model?: string;
  /** After `turn/interrupt`, how long to wait for `turn/completed` before ending the run anyway. Default 2 s. */
  interruptGraceMs?: number;
};

type Signal =
  | { kind: 'notification'; notification: AppServerNotification }
  | { kind: 'exit'; error: Error; generation: number }
  | { kind: 'abort' }
  | { kind: 'grace' };

/**
 * Codex through one long-lived `codex app-server` (JSON-RPC over stdio): a thread per session,
 * resumed by id, one turn per run. Unlike the SDK backend it streams text deltas as they come,
 * and an abort is a `turn/interrupt` (the process and the thread stay up).
 */
export class CodexAppServerRunner implements AgentRunner {
  readonly name = 'codex-app-server';
  readonly server: CodexAppServer;
  readonly #model: string | undefined;
  readonly #interruptGraceMs: number;

  constructor(options: CodexAppServerRunnerOptions) {
    this.server = 'server' in options ? options.server : new CodexAppServer(options);
    this.#model = options.model;
    this.#interruptGraceMs = options.interruptGraceMs ?? 2_000;
  }

  /** Stops the app-server process. */
  close(): Promise<void> {
    return this.server.close();
  }

  async *run(request: RunRequest, signal: AbortSignal): AsyncIterable<AgentEvent> {
    const stopReason = (): StopReason =>
      signal.reason instanceof RunStopped ? signal.reason.reason : 'interrupted';
    if (signal.aborted) {
      yield { type: 'done', outcome: stopReason() };
      return;
    }

    const queue = new SignalQueue();
    const onAbort = () => queue.push({ kind: 'abort' });
    signal.addEventListener('abort', onAbort, { once: true });
    const offExit = this.server.onExit((error, _exit, generation) =>
      queue.push({ kind: 'exit', error, generation }),
    );
    let offThread: (() => void) | undefined;
    let active: { threadId: string; turnId: string } | undefined;
    let finished = false;

    try {
      // 1. The thread: resumed (with the policy sent again: resume otherwise falls back to read-only) or new.
      let opened: { thread: ThreadResponse; notice?: string };
      try {
        opened = await untilAborted(this.#openThread(request), signal);
      } catch (error) {
        finished = true;
        yield signal.aborted
          ? { type: 'done', outcome: stopReason() }
          : { type: 'done', outcome: 'failed', error: describeError(error) };
        return;
      }
      const threadId = opened.thread.thread.id;
      if (opened.notice) yield { type: 'notice', message: opened.notice };
      yield { type: 'session', sessionId: threadId };
      offThread = this.server.subscribe(threadId, (notification) =>
        queue.push({ kind: 'notification', notification }),
      );

      // 2. The turn. A thread already loaded ignores resume's overrides: then the turn carries them.
      if (signal.aborted) {
        finished = true;
        yield { type: 'done', outcome: stopReason() };
        return;
      }
      const turnParams: TurnStartParams = {
        threadId,
        input: [{ type: 'text', text: request.prompt, text_elements: [] }],
        ...turnPolicyOverrides(opened.thread, request),
      };
      const starting = this.server.startTurn(turnParams);
      let turnId: string;
      let generation: number;
      try {
        ({
          turn: { id: turnId },
          generation,
        } = await untilAborted(starting, signal));
      } catch (error) {
        finished = true;
        if (signal.aborted) {
          // The turn may start after all: stop it as soon as its id is known.
          starting.then(
            ({ turn }) => this.server.interruptTurn({ threadId, turnId: turn.id }).catch(() => {}),
            () => {},
          );
          yield { type: 'done', outcome: stopReason() };
        } else {
          yield { type: 'done', outcome: 'failed', error: describeError(error) };
        }
        return;
      }
      active = { threadId, turnId };

      // 3. Notifications until turn/completed, an abort (→ turn/interrupt) or a dead server.
      const translator = new TurnTranslator(turnId);
      let interrupting = false;
      if (signal.aborted) queue.push({ kind: 'abort' });
      for (;;) {
        const next = await queue.next();
        if (next.kind === 'abort') {
          if (interrupting) continue;
          interrupting = true;
          this.server.interruptTurn({ threadId, turnId }).catch(() => {
            // `no active turn to interrupt`: its turn/completed is on the way, or the server is gone.
          });
          queue.pushAfter({ kind: 'grace' }, this.#interruptGraceMs);
          continue;
        }
        if (next.kind === 'grace') {
          finished = true;
          yield { type: 'done', outcome: stopReason() };
          return;
        }
        if (next.kind === 'exit') {
          // An earlier process (gone before this turn started) does not concern this turn.
          if (next.generation !== generation) continue;
          finished = true;
          yield signal.aborted
            ? { type: 'done', outcome: stopReason() }
            : { type: 'done', outcome: 'failed', error: `${next.error.message}; the turn did not finish` };
          return;
        }
        for (const event of translator.translate(next.notification)) {
          if (event.type === 'done') {
            finished = true;
            // An interrupt we asked for ends as the stop's reason (interrupted or timeout).
            yield event.outcome === 'interrupted' && signal.aborted
              ? { type: 'done', outcome: stopReason() }
              : event;
            return;
          }
          yield event;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      offExit();
      offThread?.();
      queue.dispose();
      // The consumer stopped reading mid-turn: do not leave the turn running.
      if (!finished && active) this.server.interruptTurn(active).catch(() => {});
    }
  }

  async #openThread(request: RunRequest): Promise<{ thread: ThreadResponse; notice?: string }> {
    const params = this.#threadParams(request);
    if (!request.sessionId) return { thread: await this.server.startThread(params) };
    try {
      return {
        thread: await this.server.resumeThread({
          ...params,
          threadId: request.sessionId,
          excludeTurns: true,
        }),
      };
    } catch (error) {
      if (!(error instanceof RpcError) || !isUnknownThread(error.message)) throw error;
      return {
        thread: await this.server.startThread(params),
        notice: `previous session ${request.sessionId} was not found; started a new one`,
      };
    }
  }

  #threadParams(request: RunRequest): ThreadStartParams {
    return {
      cwd: request.workspace,
      sandbox: request.sandbox,
      // Approvals come later (cards); for now larkcode decides the policy before the run starts.
      approvalPolicy: 'never',
      config: networkConfig(request.networkAccess),
      ...(this.#model ? { model: this.#model } : {}),
    };
  }
}

/** `thread/resume` errors meaning "no such thread" (research §6); anything else is a real failure. */
function isUnknownThread(message: string): boolean {
  return /no rollout found|invalid session id|thread not found/i.test(message);
}

function networkConfig(networkAccess: boolean): Record<string, JsonValue> {
  return { 'sandbox_workspace_write.network_access': networkAccess };
}

const SANDBOX_POLICY_TYPES: Record<SandboxMode, SandboxPolicy['type']> = {
  'read-only': 'readOnly',
  'workspace-write': 'workspaceWrite',
  'danger-full-access': 'dangerFullAccess',
};

/**
 * Turn-level overrides when the thread's effective policy is not the one asked for: `thread/resume`
 * of a thread this process already has loaded ignores its overrides ("overrides ignored for loaded
 * thread"). Turn overrides stick for later turns.
 */
export function turnPolicyOverrides(
  opened: ThreadResponse,
  request: RunRequest,
): Pick<TurnStartParams, 'cwd' | 'approvalPolicy' | 'sandboxPolicy'> {
  const current = opened.sandbox;
  const wantedType = SANDBOX_POLICY_TYPES[request.sandbox];
  const sandboxOk =
    current.type === wantedType &&
    (current.type !== 'workspaceWrite' || current.networkAccess === request.networkAccess);
  const approvalOk = opened.approvalPolicy === 'never';
  const cwdOk = opened.cwd === request.workspace;
  if (sandboxOk && approvalOk && cwdOk) return {};
  let sandboxPolicy: SandboxPolicy;
  if (wantedType === 'workspaceWrite') {
    sandboxPolicy = {
      type: 'workspaceWrite',
      writableRoots: current.type === 'workspaceWrite' ? current.writableRoots : [],
      networkAccess: request.networkAccess,
      excludeTmpdirEnvVar: false,
      excludeSlashTmp: false,
    };
  } else if (wantedType === 'readOnly') {
    sandboxPolicy = { type: 'readOnly', networkAccess: false };
  } else {
    sandboxPolicy = { type: 'dangerFullAccess' };
  }
  return { cwd: request.workspace, approvalPolicy: 'never', sandboxPolicy };
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 2000) || 'codex app-server failed';
}

/** Resolves like `promise`, or rejects as soon as `signal` aborts (the promise keeps running). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** An unbounded FIFO the run loop awaits; pushes from listeners never block. */
class SignalQueue {
  readonly #items: Signal[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #waiter: ((signal: Signal) => void) | undefined;

  push(signal: Signal): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter(signal);
    } else {
      this.#items.push(signal);
    }
  }

  pushAfter(signal: Signal, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.push(signal);
    }, ms);
    this.#timers.add(timer);
  }

  next(): Promise<Signal> {
    const item = this.#items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#items.length = 0;
    this.#waiter = undefined;
  }
}
