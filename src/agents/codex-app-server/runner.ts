import {
  type AgentEvent,
  type AgentRunner,
  type AgentSessions,
  type ApprovalRequest,
  type QuestionAnswers,
  type QuestionRequest,
  type RunInteractions,
  type RunRequest,
  RunStopped,
  type SandboxMode,
  type StopReason,
} from '../types.js';
import type {
  AppServerNotification,
  AskForApproval,
  CommandExecutionRequestApprovalParams,
  FileChangeRequestApprovalParams,
  JsonValue,
  SandboxPolicy,
  ThreadResponse,
  ThreadStartParams,
  ToolRequestUserInputParams,
  TurnStartParams,
} from './protocol.js';
import { RpcError, type RpcId } from './rpc.js';
import { CodexAppServer, type CodexAppServerOptions } from './server.js';
import { TurnTranslator } from './translate.js';

export type CodexAppServerRunnerOptions = ({ server: CodexAppServer } | CodexAppServerOptions) & {
  model?: string;
  /** After `turn/interrupt`, how long to wait for `turn/completed` before ending the run anyway. Default 2 s. */
  interruptGraceMs?: number;
  /**
   * When codex asks a person (runs given interactions): `on-request` asks to leave the sandbox,
   * `untrusted` also asks before commands that are not known to be safe. Default `on-request`.
   */
  approvalPolicy?: Exclude<AskForApproval, 'never'>;
  /** Questions the agent may ask in one turn before it is told to decide alone (default 8). */
  maxQuestionsPerTurn?: number;
};

type Signal =
  | { kind: 'notification'; notification: AppServerNotification }
  | { kind: 'event'; event: AgentEvent }
  | { kind: 'exit'; error: Error; generation: number }
  | { kind: 'abort' }
  | { kind: 'grace' };

/**
 * Codex through one long-lived `codex app-server` (JSON-RPC over stdio): a thread per session,
 * resumed by id, one turn per run. Unlike the SDK backend it streams text deltas as they come,
 * and an abort is a `turn/interrupt` (the process and the thread stay up).
 */
/** What a server request of one thread is routed to: the run that has the thread's turn. */
type ThreadRequestHandler = (method: string, params: unknown, id: RpcId) => Promise<unknown>;

/** A run as steer() needs it: its turn, once started (undefined when it ended before). */
interface LiveRun {
  turn: Promise<{ threadId: string; turnId: string } | undefined>;
  ended: boolean;
}

export class CodexAppServerRunner implements AgentRunner {
  readonly name = 'codex-app-server';
  readonly server: CodexAppServer;
  readonly #model: string | undefined;
  readonly #interruptGraceMs: number;
  readonly #approvalPolicy: Exclude<AskForApproval, 'never'>;
  readonly #maxQuestionsPerTurn: number;
  readonly #liveRuns = new Map<string, LiveRun>();
  readonly #requestHandlers = new Map<string, ThreadRequestHandler>();
  /**
   * Per thread, the end of the last turn queued on it and how many runs hold or wait for it: Codex
   * allows one writer per thread. The entry goes as soon as the last run releases it.
   */
  readonly #threadQueues = new Map<string, { tail: Promise<void>; holders: number }>();

  constructor(options: CodexAppServerRunnerOptions) {
    this.server = 'server' in options ? options.server : new CodexAppServer(options);
    this.#model = options.model;
    this.#interruptGraceMs = options.interruptGraceMs ?? 2_000;
    this.#approvalPolicy = options.approvalPolicy ?? 'on-request';
    this.#maxQuestionsPerTurn = options.maxQuestionsPerTurn ?? 8;
    this.server.setServerRequestHandler((method, params, id) => {
      const threadId = (params as { threadId?: unknown } | null)?.threadId;
      const handler = typeof threadId === 'string' ? this.#requestHandlers.get(threadId) : undefined;
      // No run owns the thread any more: nobody can be asked, so the answer is no.
      if (!handler) return declineFor(method);
      return handler(method, params, id);
    });
  }

  readonly sessions: AgentSessions = {
    fork: async (sessionId, policy) => {
      const forked = await this.server.forkThread({
        threadId: sessionId,
        cwd: policy.workspace,
        sandbox: policy.sandbox,
        // The fork is resumed by a later run, which sends its own approval policy with the turn.
        approvalPolicy: this.#approvalPolicy,
        config: networkConfig(policy.networkAccess),
        ...(this.#model ? { model: this.#model } : {}),
      });
      return forked.thread.id;
    },
    archive: (sessionId) => this.server.archiveThread(sessionId),
  };

  async steer(runId: string, text: string): Promise<boolean> {
    const live = this.#liveRuns.get(runId);
    if (!live || live.ended) return false;
    const turn = await live.turn;
    if (!turn || live.ended) return false;
    try {
      await this.server.steerTurn({
        threadId: turn.threadId,
        expectedTurnId: turn.turnId,
        input: [{ type: 'text', text, text_elements: [] }],
      });
      return true;
    } catch {
      // `no active turn to steer` / a different active turn: the message waits for the next run.
      return false;
    }
  }

  /** Stops the app-server process. */
  close(): Promise<void> {
    return this.server.close();
  }

  async *run(
    request: RunRequest,
    signal: AbortSignal,
    interactions?: RunInteractions,
  ): AsyncIterable<AgentEvent> {
    const stopReason = (): StopReason =>
      signal.reason instanceof RunStopped ? signal.reason.reason : 'interrupted';
    if (signal.aborted) {
      yield { type: 'done', outcome: stopReason() };
      return;
    }
    let turnKnown: (turn: { threadId: string; turnId: string } | undefined) => void = () => {};
    const live: LiveRun = {
      turn: new Promise((resolve) => {
        turnKnown = resolve;
      }),
      ended: false,
    };
    this.#liveRuns.set(request.runId, live);
    // Ends what waits on a person once the run is over (an approval card, a question).
    const runScope = new AbortController();
    let releaseThread: (() => void) | undefined;
    let offRequests: (() => void) | undefined;

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
      // 0. One turn at a time per thread: a second turn/start would silently become a steer.
      if (request.sessionId) {
        const claim = this.#claimThread(request.sessionId);
        releaseThread = claim.release;
        const waiting = claim.previous;
        if (waiting) {
          yield { type: 'notice', message: 'waiting for another run on this session to finish' };
          try {
            await untilAborted(waiting, signal);
          } catch {
            finished = true;
            yield { type: 'done', outcome: stopReason() };
            return;
          }
        }
      }

      // 1. The thread: resumed (with the policy sent again: resume otherwise falls back to read-only) or new.
      let opened: { thread: ThreadResponse; notice?: string };
      try {
        opened = await untilAborted(this.#openThread(request, interactions !== undefined), signal);
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
      if (!releaseThread) releaseThread = this.#claimThread(threadId).release;
      // File-change approvals carry no paths: they are on the item/started just before.
      const fileChanges = new Map<string, NonNullable<ApprovalRequest['changes']>>();
      offThread = this.server.subscribe(threadId, (notification) => {
        rememberFileChanges(notification, fileChanges);
        queue.push({ kind: 'notification', notification });
      });
      if (interactions) {
        const handler = this.#requestHandler(request, interactions, fileChanges, queue, runScope.signal);
        this.#requestHandlers.set(threadId, handler);
        offRequests = () => {
          if (this.#requestHandlers.get(threadId) === handler) this.#requestHandlers.delete(threadId);
        };
      }

      // 2. The turn. A thread already loaded ignores resume's overrides: then the turn carries them.
      if (signal.aborted) {
        finished = true;
        yield { type: 'done', outcome: stopReason() };
        return;
      }
      const turnParams: TurnStartParams = {
        threadId,
        input: [{ type: 'text', text: request.prompt, text_elements: [] }],
        ...turnPolicyOverrides(opened.thread, request, this.#approvalPolicyFor(interactions !== undefined)),
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
      turnKnown(active);

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
        if (next.kind === 'event') {
          yield next.event;
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
      live.ended = true;
      turnKnown(undefined);
      this.#liveRuns.delete(request.runId);
      runScope.abort();
      offRequests?.();
      releaseThread?.();
      signal.removeEventListener('abort', onAbort);
      offExit();
      offThread?.();
      queue.dispose();
      // The consumer stopped reading mid-turn: do not leave the turn running.
      if (!finished && active) this.server.interruptTurn(active).catch(() => {});
      // A stopped turn's commands outlive `turn/interrupt` (a `sleep 600` would go on): end them too.
      if (active && (signal.aborted || !finished)) {
        const { threadId } = active;
        this.server.cleanBackgroundTerminals(threadId).catch(() => {
          // Gone with the process, or nothing to clean.
        });
      }
    }
  }

  /**
   * Queues a run on the thread: `previous` settles when every run queued before it released the
   * thread (undefined: nobody holds it); `release` (idempotent) lets the next one go.
   */
  #claimThread(threadId: string): { previous: Promise<void> | undefined; release: () => void } {
    let queue = this.#threadQueues.get(threadId);
    const previous = queue?.tail;
    if (!queue) {
      queue = { tail: Promise.resolve(), holders: 0 };
      this.#threadQueues.set(threadId, queue);
    }
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    queue.tail = queue.tail.then(() => done);
    queue.holders += 1;
    const mine = queue;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      resolveDone();
      // Bookkept at once, not when the promise chain settles: a run started right after the last
      // release must find the thread free (and not announce a wait for nobody).
      mine.holders -= 1;
      if (mine.holders === 0 && this.#threadQueues.get(threadId) === mine)
        this.#threadQueues.delete(threadId);
    };
    return { previous, release };
  }

  #approvalPolicyFor(askPeople: boolean): AskForApproval {
    return askPeople ? this.#approvalPolicy : 'never';
  }

  /**
   * Answers the thread's server requests during this run: each becomes a card event on the run
   * and a question to a person through `interactions`; the JSON-RPC answer waits for them.
   */
  #requestHandler(
    request: RunRequest,
    interactions: RunInteractions,
    fileChanges: Map<string, NonNullable<ApprovalRequest['changes']>>,
    queue: SignalQueue,
    runSignal: AbortSignal,
  ): ThreadRequestHandler {
    let questionsAsked = 0;
    const show = (event: AgentEvent) => queue.push({ kind: 'event', event });
    return async (method, params) => {
      const approval = approvalRequestOf(method, params, request, fileChanges);
      if (approval) {
        show({ type: 'approval', request: approval, status: 'pending' });
        let verdict: Awaited<ReturnType<RunInteractions['approve']>>;
        try {
          verdict = await interactions.approve(approval, runSignal);
        } catch (error) {
          verdict = { decision: 'deny', note: `could not ask: ${(error as Error).message}` };
        }
        show({
          type: 'approval',
          request: approval,
          status: verdict.decision === 'approve' ? 'approved' : 'denied',
          note: verdict.note,
        });
        return { decision: verdict.decision === 'approve' ? 'accept' : 'decline' };
      }
      if (method === 'item/tool/requestUserInput') {
        const question = questionOf(params as ToolRequestUserInputParams);
        questionsAsked += 1;
        if (questionsAsked > this.#maxQuestionsPerTurn) {
          show({
            type: 'notice',
            message: `the agent asked more than ${this.#maxQuestionsPerTurn} questions in this turn; it was told to decide on its own`,
          });
          return answersResult(question, undefined, 'No more questions in this turn: decide on your own.');
        }
        show({ type: 'question', question, status: 'pending' });
        let answers: QuestionAnswers | undefined;
        try {
          answers = await interactions.ask(question, runSignal);
        } catch {
          answers = undefined;
        }
        show({
          type: 'question',
          question,
          status: answers ? 'answered' : 'expired',
          ...(answers ? { answers } : {}),
        });
        return answersResult(question, answers, 'Nobody answered in time: decide on your own.');
      }
      return declineFor(method);
    };
  }

  async #openThread(
    request: RunRequest,
    askPeople: boolean,
  ): Promise<{ thread: ThreadResponse; notice?: string }> {
    const params = this.#threadParams(request, askPeople);
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

  #threadParams(request: RunRequest, askPeople: boolean): ThreadStartParams {
    return {
      cwd: request.workspace,
      sandbox: request.sandbox,
      // Without someone to ask (no interactions), codex must never wait for an answer.
      approvalPolicy: this.#approvalPolicyFor(askPeople),
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
  approvalPolicy: AskForApproval = 'never',
): Pick<TurnStartParams, 'cwd' | 'approvalPolicy' | 'sandboxPolicy'> {
  const current = opened.sandbox;
  const wantedType = SANDBOX_POLICY_TYPES[request.sandbox];
  const sandboxOk =
    current.type === wantedType &&
    (current.type !== 'workspaceWrite' || current.networkAccess === request.networkAccess);
  const approvalOk = opened.approvalPolicy === approvalPolicy;
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
  return { cwd: request.workspace, approvalPolicy, sandboxPolicy };
}

// --- server requests ------------------------------------------------------------------------

/** The "no" for a request nobody can answer: decline for approvals, nothing chosen for questions. */
function declineFor(method: string): unknown {
  if (method === 'item/tool/requestUserInput') return { answers: {} };
  if (method.endsWith('/requestApproval')) return { decision: 'decline' };
  throw new Error(`larkcode does not handle ${method}`);
}

function rememberFileChanges(
  notification: AppServerNotification,
  fileChanges: Map<string, NonNullable<ApprovalRequest['changes']>>,
): void {
  if (notification.method !== 'item/started') return;
  const item = (notification.params as { item?: { type?: string; id?: string; changes?: unknown } }).item;
  if (item?.type !== 'fileChange' || typeof item.id !== 'string' || !Array.isArray(item.changes)) return;
  fileChanges.set(
    item.id,
    (item.changes as { path: string; kind: { type: 'add' | 'delete' | 'update' } }[]).map((change) => ({
      path: change.path,
      change: change.kind.type,
    })),
  );
}

/** An approval request in larkcode's terms, or undefined when `method` is not one. */
export function approvalRequestOf(
  method: string,
  params: unknown,
  request: RunRequest,
  fileChanges: Map<string, NonNullable<ApprovalRequest['changes']>>,
): ApprovalRequest | undefined {
  if (method === 'item/commandExecution/requestApproval') {
    const p = params as CommandExecutionRequestApprovalParams;
    const inner = p.commandActions?.length === 1 ? p.commandActions[0]?.command : undefined;
    return {
      id: p.approvalId ?? p.itemId,
      kind: 'command',
      ...(p.command ? { command: p.command } : inner ? { command: inner } : {}),
      ...(p.proposedExecpolicyAmendment?.length ? { argv: p.proposedExecpolicyAmendment } : {}),
      cwd: p.cwd ?? request.workspace,
      ...(p.reason ? { reason: p.reason } : {}),
      network: false,
      // Asked with a justification, codex wants to leave the sandbox (research §3.1); without one
      // (`untrusted`) an approved command still runs inside it.
      outsideSandbox: Boolean(p.reason),
    };
  }
  if (method === 'item/fileChange/requestApproval') {
    const p = params as FileChangeRequestApprovalParams;
    return {
      id: p.itemId,
      kind: 'file_change',
      changes: fileChanges.get(p.itemId) ?? [],
      cwd: request.workspace,
      ...(p.reason ? { reason: p.reason } : {}),
      network: false,
      outsideSandbox: Boolean(p.grantRoot),
    };
  }
  if (method === 'item/permissions/requestApproval') {
    const p = params as {
      itemId?: string;
      reason?: string | null;
      permissions?: { network?: { enabled?: boolean } | null };
    };
    return {
      id: p.itemId ?? `permissions-${Date.now()}`,
      kind: 'permissions',
      cwd: request.workspace,
      ...(p.reason ? { reason: p.reason } : {}),
      network: p.permissions?.network?.enabled === true,
      outsideSandbox: false,
    };
  }
  return undefined;
}

function questionOf(params: ToolRequestUserInputParams): QuestionRequest {
  return {
    id: params.itemId,
    questions: params.questions.map((q) => ({
      id: q.id,
      ...(q.header ? { header: q.header } : {}),
      question: q.question,
      options: (q.options ?? []).map((o) => ({
        label: o.label,
        ...(o.description ? { description: o.description } : {}),
      })),
      allowOther: q.isOther === true,
    })),
  };
}

/** codex's answer shape; a question left unanswered gets `fallback`, so the model is not left guessing why. */
function answersResult(
  question: QuestionRequest,
  answers: QuestionAnswers | undefined,
  fallback: string,
): { answers: Record<string, { answers: string[] }> } {
  const result: Record<string, { answers: string[] }> = {};
  for (const q of question.questions) {
    const given = answers?.[q.id];
    result[q.id] = { answers: given && given.length > 0 ? given : [fallback] };
  }
  return { answers: result };
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
