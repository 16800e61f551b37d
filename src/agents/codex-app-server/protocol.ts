/**
 * The part of the `codex app-server` v2 protocol larkcode uses, written from the typings the
 * binary generates (`codex app-server generate-ts --out DIR`, codex 0.163.0). Only the fields we
 * read or send; the server sends more. Regenerate and compare on every codex upgrade: the
 * app-server is marked experimental.
 */
import type { SandboxMode } from '../types.js';

export type AskForApproval = 'untrusted' | 'on-request' | 'never';

export interface UserInputText {
  type: 'text';
  text: string;
  text_elements: unknown[];
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** `thread/start` params (all optional): defaults are the server's cwd, `read-only`, `on-request`. */
export interface ThreadStartParams {
  cwd?: string;
  sandbox?: SandboxMode;
  approvalPolicy?: AskForApproval;
  model?: string;
  modelProvider?: string;
  /** Per-thread config overrides; dotted keys allowed (`sandbox_workspace_write.network_access`). */
  config?: Record<string, JsonValue>;
  developerInstructions?: string;
  ephemeral?: boolean;
}

/** Resume drops the sandbox unless it is sent again (research §6): always pass cwd, sandbox, approvalPolicy. */
export interface ThreadResumeParams extends Omit<ThreadStartParams, 'ephemeral'> {
  threadId: string;
  excludeTurns?: boolean;
}

export interface Thread {
  id: string;
  cwd: string;
  status: { type: string };
  turns?: Turn[];
}

/**
 * A thread as `thread/list`, `thread/read` and `thread/unarchive` return it: what a "/resume"
 * picker shows. `turns` is only filled by `thread/read` with `includeTurns`.
 */
export interface ThreadSummary extends Thread {
  /** Usually the first user message; `''` before the first turn. */
  preview: string;
  /** Set by `thread/name/set` (forks inherit it); null until then. */
  name: string | null;
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds. */
  updatedAt: number;
  /** Only `thread/read` fills it: `thread/list` showed null for forks (codex 0.163). */
  forkedFromId: string | null;
  modelProvider: string;
  model: string | null;
  /** `"vscode"` for app-server threads, `"exec"` for codex exec, … */
  source: unknown;
  /** The rollout file (`[UNSTABLE]` in the schema). */
  path: string | null;
  ephemeral: boolean;
}

export type ThreadSourceKind =
  | 'cli'
  | 'vscode'
  | 'exec'
  | 'appServer'
  | 'subAgent'
  | 'subAgentReview'
  | 'subAgentCompact'
  | 'subAgentThreadSpawn'
  | 'subAgentOther'
  | 'unknown';

/** `thread/list` params; without filters: non-archived, interactive sources, newest created first. */
export interface ThreadListParams {
  /**
   * `nextCursor` of the previous page. Under the default `created_at` it is the last row's time in
   * whole seconds and the next page starts strictly before it: rows created in that same second are
   * skipped (codex 0.163). `sortKey: 'recency_at'` cursors (`<ms time>|<id>`) page without gaps.
   */
  cursor?: string;
  limit?: number;
  /** At most 100. With `limit`, codex 0.163 applied the limit first, so a page can come back short. */
  excludedThreadIds?: string[];
  /** Exact match on the thread's cwd (one path or any of several). */
  cwd?: string | string[];
  /** true lists only archived threads, false/absent only the others. */
  archived?: boolean;
  /** Substring of the thread's title. */
  searchTerm?: string;
  /** Default `created_at`. `recency_at`/`updated_at` move a thread up when it gets a turn. */
  sortKey?: 'created_at' | 'updated_at' | 'recency_at';
  sortDirection?: 'asc' | 'desc';
  modelProviders?: string[];
  /** Empty or absent: the interactive sources (app-server threads are `vscode`, included). */
  sourceKinds?: ThreadSourceKind[];
}

export interface ThreadListResponse {
  data: ThreadSummary[];
  /** null on the last page. */
  nextCursor: string | null;
  /** For paging back with the opposite `sortDirection`. */
  backwardsCursor?: string | null;
}

/**
 * `thread/fork` params: the history is copied into a new thread. Like resume it drops the sandbox
 * unless it is sent again (research §6): pass cwd, sandbox and approvalPolicy.
 */
export interface ThreadForkParams extends ThreadStartParams {
  threadId: string;
  /** Fork through this turn (inclusive); later turns are left out. It must not be in progress. */
  lastTurnId?: string;
  /** Leave `thread.turns` empty in the response. */
  excludeTurns?: boolean;
}

export type SandboxPolicy =
  | { type: 'dangerFullAccess' }
  | { type: 'readOnly'; networkAccess: boolean }
  | {
      type: 'workspaceWrite';
      writableRoots: string[];
      networkAccess: boolean;
      excludeTmpdirEnvVar: boolean;
      excludeSlashTmp: boolean;
    }
  | { type: 'externalSandbox'; networkAccess: unknown };

/** Result of `thread/start`, `thread/resume` and `thread/fork`. */
export interface ThreadResponse {
  thread: Thread;
  model: string;
  modelProvider: string;
  cwd: string;
  approvalPolicy: AskForApproval | { granular: unknown };
  sandbox: SandboxPolicy;
}

/** `cwd`, `approvalPolicy`, `sandboxPolicy` and `model` override the thread's, for this turn and later ones. */
export interface TurnStartParams {
  threadId: string;
  input: UserInputText[];
  cwd?: string;
  approvalPolicy?: AskForApproval;
  sandboxPolicy?: SandboxPolicy;
  model?: string;
}

export interface TurnSteerParams {
  threadId: string;
  /** The request fails unless this is the thread's active turn. */
  expectedTurnId: string;
  input: UserInputText[];
}

export interface TurnInterruptParams {
  threadId: string;
  turnId: string;
}

export type TurnStatus = 'completed' | 'interrupted' | 'failed' | 'inProgress';

export interface TurnError {
  message: string;
  codexErrorInfo: unknown;
  additionalDetails: string | null;
}

export interface Turn {
  id: string;
  items: ThreadItem[];
  status: TurnStatus;
  error: TurnError | null;
  durationMs: number | null;
}

export type ItemStatus = 'inProgress' | 'completed' | 'failed' | 'declined';

export type ThreadItem =
  | { type: 'userMessage'; id: string }
  | { type: 'agentMessage'; id: string; text: string; phase: string | null }
  | { type: 'reasoning'; id: string; summary: string[]; content: string[] }
  | {
      type: 'commandExecution';
      id: string;
      command: string;
      cwd: string;
      status: ItemStatus;
      aggregatedOutput: string | null;
      exitCode: number | null;
      durationMs: number | null;
    }
  | {
      type: 'fileChange';
      id: string;
      changes: { path: string; kind: { type: 'add' | 'delete' | 'update' }; diff: string }[];
      status: ItemStatus;
    }
  | {
      type: 'mcpToolCall';
      id: string;
      server: string;
      tool: string;
      status: 'inProgress' | 'completed' | 'failed';
      error: { message: string } | null;
    }
  | {
      type: 'webSearch';
      id: string;
      query: string;
      action: { type: string; query?: string; queries?: string[] } | null;
    }
  | { type: 'plan'; id: string; text: string }
  | { type: 'contextCompaction'; id: string };
// Other item types exist (hookPrompt, dynamicToolCall, collabAgentToolCall, imageView, …); callers ignore them.

export interface TokenUsageBreakdown {
  totalTokens: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningOutputTokens: number;
}

/** The notifications the runner reads, keyed by method. Every one carries `threadId`. */
export interface ServerNotifications {
  'turn/started': { threadId: string; turn: Turn };
  'turn/completed': { threadId: string; turn: Turn };
  'item/started': { threadId: string; turnId: string; item: ThreadItem };
  'item/completed': { threadId: string; turnId: string; item: ThreadItem };
  'item/agentMessage/delta': { threadId: string; turnId: string; itemId: string; delta: string };
  'item/reasoning/summaryTextDelta': {
    threadId: string;
    turnId: string;
    itemId: string;
    delta: string;
    summaryIndex: number;
  };
  'item/reasoning/summaryPartAdded': {
    threadId: string;
    turnId: string;
    itemId: string;
    summaryIndex: number;
  };
  /** `last` is one model request, `total` the whole thread. */
  'thread/tokenUsage/updated': {
    threadId: string;
    turnId: string;
    tokenUsage: { total: TokenUsageBreakdown; last: TokenUsageBreakdown; modelContextWindow: number | null };
  };
  'turn/plan/updated': {
    threadId: string;
    turnId: string;
    explanation: string | null;
    plan: { step: string; status: 'pending' | 'inProgress' | 'completed' }[];
  };
  /** `willRetry: false` is followed by `turn/completed` failed with the same error. */
  error: { threadId: string; turnId: string; error: TurnError; willRetry: boolean };
}

// --- server requests: approvals and questions (answered with the matching response) ----------

export type CommandAction =
  | { type: 'read'; command: string; name: string; path: string }
  | { type: 'listFiles'; command: string; path: string | null }
  | { type: 'search'; command: string; query: string | null; path: string | null }
  | { type: 'unknown'; command: string };

/**
 * `item/commandExecution/requestApproval`. The `item/started` of the same `itemId` (a
 * `commandExecution`) comes just before it.
 */
export interface CommandExecutionRequestApprovalParams {
  /** `writeStdin` is input for a running terminal. */
  kind: 'command' | 'writeStdin';
  threadId: string;
  turnId: string;
  itemId: string;
  startedAtMs: number;
  /** Only for zsh-exec-bridge subcommands and stdin; null for plain commands. */
  approvalId?: string | null;
  environmentId: string | null;
  /** The model's `justification` (absent under `untrusted`). */
  reason?: string | null;
  /** As run: `/bin/bash -lc '<cmd>'`. */
  command?: string | null;
  cwd?: string | null;
  commandActions?: CommandAction[] | null;
  /** argv a matching `acceptWithExecpolicyAmendment` would allow from now on. */
  proposedExecpolicyAmendment?: string[] | null;
  /** Sent even without experimentalApi; it omits `decline`/`acceptForSession`, which work anyway. */
  availableDecisions?: CommandExecutionApprovalDecision[];
}

export type CommandExecutionApprovalDecision =
  | 'accept'
  | 'acceptForSession'
  | { acceptWithExecpolicyAmendment: { execpolicy_amendment: string[] } }
  | 'decline'
  /** Also ends the turn (interrupted). */
  | 'cancel';

/**
 * `item/fileChange/requestApproval`. It carries no diff: the `changes` are on the `item/started`
 * (a `fileChange`) with the same `itemId`, which comes just before it.
 */
export interface FileChangeRequestApprovalParams {
  threadId: string;
  turnId: string;
  itemId: string;
  startedAtMs: number;
  reason?: string | null;
  grantRoot?: string | null;
}

export type FileChangeApprovalDecision = 'accept' | 'acceptForSession' | 'decline' | 'cancel';

export interface ToolRequestUserInputQuestion {
  id: string;
  header: string;
  question: string;
  /** Offer a free-text "Other" answer. */
  isOther: boolean;
  isSecret: boolean;
  options: { label: string; description: string }[] | null;
}

/** `item/tool/requestUserInput`: no item events go with it. */
export interface ToolRequestUserInputParams {
  threadId: string;
  turnId: string;
  /** The tool call's id. */
  itemId: string;
  questions: ToolRequestUserInputQuestion[];
  /** false with `default_mode_request_user_input`, true in Plan mode; nothing resolves it on its own. */
  isBlocking: boolean;
  autoResolutionMs: number | null;
}

/** Server requests larkcode answers, keyed by method: params and the result to send back. */
export interface ServerRequests {
  'item/commandExecution/requestApproval': {
    params: CommandExecutionRequestApprovalParams;
    result: { decision: CommandExecutionApprovalDecision };
  };
  'item/fileChange/requestApproval': {
    params: FileChangeRequestApprovalParams;
    result: { decision: FileChangeApprovalDecision };
  };
  'item/tool/requestUserInput': {
    params: ToolRequestUserInputParams;
    /** Keyed by question id; free text goes into the same `answers` array. */
    result: { answers: Record<string, { answers: string[] }> };
  };
}

export interface AppServerNotification {
  method: string;
  params: unknown;
}

/** Narrows a notification to a known method's params. */
export function isNotification<M extends keyof ServerNotifications>(
  notification: AppServerNotification,
  method: M,
): notification is { method: M; params: ServerNotifications[M] } {
  return notification.method === method;
}
