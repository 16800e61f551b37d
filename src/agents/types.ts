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

export type AgentEvent =
  | { type: 'session'; sessionId: string }
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
  run(request: RunRequest, signal: AbortSignal): AsyncIterable<AgentEvent>;
}
