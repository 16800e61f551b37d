/**
 * The agent-neutral contract between larkcode and any coding-agent backend.
 * Backends translate their own stream into these events; machines and cards never
 * see a backend's types.
 */

export type SandboxMode = 'read-only' | 'workspace-write' | 'danger-full-access';

export type RunOutcome = 'completed' | 'interrupted' | 'timeout' | 'failed';

/** What one agent turn is asked to do, with the policy decided before it starts. */
export interface RunRequest {
  runId: string;
  scopeId: string;
  prompt: string;
  /** Agent session (Codex thread id) to resume; absent for a fresh session. */
  sessionId?: string;
  workspace: string;
  sandbox: SandboxMode;
  networkAccess: boolean;
}

export type ToolStatus = 'started' | 'updated' | 'completed' | 'failed';

export type ToolCall =
  | {
      kind: 'command';
      id: string;
      status: ToolStatus;
      command: string;
      output: string;
      exitCode?: number;
    }
  | {
      kind: 'file_change';
      id: string;
      status: ToolStatus;
      changes: { path: string; change: 'add' | 'delete' | 'update' }[];
    }
  | {
      kind: 'mcp';
      id: string;
      status: ToolStatus;
      server: string;
      tool: string;
      error?: string;
    }
  | { kind: 'web_search'; id: string; status: ToolStatus; query: string }
  | { kind: 'todo'; id: string; status: ToolStatus; items: { text: string; done: boolean }[] };

export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** Codex reports usage summed over the whole thread, not per turn. */
  cumulative: boolean;
}

/** What an agent asks permission for. Built by the backend from its own request. */
export interface ApprovalRequest {
  /** Unique within the run. */
  id: string;
  kind: 'command' | 'file_change' | 'permissions';
  /** The command as the agent will run it (e.g. `/bin/bash -lc 'npm test'`). */
  command?: string;
  /** The command's own words when known (`['npm', 'test']`), without the shell wrapper. */
  argv?: string[];
  /** Where it runs. */
  cwd: string;
  /** For file changes: the paths and what happens to each. */
  changes?: { path: string; change: 'add' | 'delete' | 'update' }[];
  /** The agent's justification, when it gave one. */
  reason?: string;
  /** It asks for network access. */
  network: boolean;
  /** Approved, it runs outside the sandbox (an escalation), not inside it. */
  outsideSandbox: boolean;
}

/** How an approval ended; `by` is who decided (absent for rules, timeouts and stops). */
export interface ApprovalVerdict {
  decision: 'approve' | 'deny';
  /** Why, in a few words: "approved by Ana", "timed out after 300 s", "auto: read-only command". */
  note: string;
  by?: string;
}

export interface QuestionOption {
  label: string;
  description?: string;
}

/** One or more questions the agent asks mid-turn; every question has options. */
export interface QuestionRequest {
  id: string;
  questions: {
    id: string;
    header?: string;
    question: string;
    options: QuestionOption[];
    /** A free-text answer is welcome besides the options. */
    allowOther: boolean;
  }[];
}

/** Answers by question id (labels or free text); undefined when nobody answered in time. */
export type QuestionAnswers = Record<string, string[]>;

/** People the agent needs during a run. Provided by the runtime; backends without approvals never call it. */
export interface RunInteractions {
  approve(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalVerdict>;
  ask(question: QuestionRequest, signal: AbortSignal): Promise<QuestionAnswers | undefined>;
}

export type AgentEvent =
  | { type: 'session'; sessionId: string }
  /** The agent waits for a person (status pending) or got its answer. */
  | {
      type: 'approval';
      request: ApprovalRequest;
      status: 'pending' | 'approved' | 'denied';
      note?: string;
    }
  | {
      type: 'question';
      question: QuestionRequest;
      status: 'pending' | 'answered' | 'expired';
      answers?: QuestionAnswers;
    }
  /** A message sent during the run reached it. */
  | { type: 'steered'; text: string; by?: string }
  | { type: 'text'; itemId: string; text: string; mode: 'delta' | 'whole' }
  | { type: 'reasoning'; itemId: string; text: string }
  | { type: 'tool'; tool: ToolCall }
  | { type: 'notice'; message: string }
  | { type: 'usage'; usage: TokenUsage }
  | { type: 'done'; outcome: RunOutcome; error?: string };

/** Why a run's AbortSignal fired; carried as the signal's reason. */
export type StopReason = 'interrupted' | 'timeout';

export class RunStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`run stopped: ${reason}`);
    this.name = 'RunStopped';
  }
}

/** A coding-agent backend: one call is one turn. The signal aborts the turn. */
export interface AgentRunner {
  readonly name: string;
  run(request: RunRequest, signal: AbortSignal, interactions?: RunInteractions): AsyncIterable<AgentEvent>;
  /**
   * Adds a message to the run `runId` while its turn is going (Codex `turn/steer`). Resolves true
   * when the turn took it, false when it could not (no such run, the turn already ended): the
   * caller then keeps the message for the next run. Absent: the backend cannot steer.
   */
  steer?(runId: string, text: string): Promise<boolean>;
  /** Session operations, where the backend keeps sessions it can copy and archive (Codex app-server). */
  sessions?: AgentSessions;
}

export interface AgentSessions {
  /** A copy of the session's history as a new session, opened under this policy; its id. */
  fork(
    sessionId: string,
    policy: Pick<RunRequest, 'workspace' | 'sandbox' | 'networkAccess'>,
  ): Promise<string>;
  /** The session is archived: no longer listed or resumable. */
  archive(sessionId: string): Promise<void>;
}
