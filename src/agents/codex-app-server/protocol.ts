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
