import type { ThreadEvent, ThreadItem } from '@openai/codex-sdk';
import type { AgentEvent, ToolCall, ToolStatus } from '../types.js';

type Phase = 'started' | 'updated' | 'completed';

/**
 * Codex `exec --experimental-json` events → AgentEvents. Pure; returns zero or more
 * events per input. Terminal `done` is NOT produced here for failures, because the
 * SDK reports a failed turn twice (turn.failed, then a throw) and the runner owns
 * the one-outcome rule.
 */
export function translateCodexEvent(event: ThreadEvent): AgentEvent[] {
  switch (event.type) {
    case 'thread.started':
      return [{ type: 'session', sessionId: event.thread_id }];
    case 'turn.started':
      return [];
    case 'item.started':
      return translateItem(event.item, 'started');
    case 'item.updated':
      return translateItem(event.item, 'updated');
    case 'item.completed':
      return translateItem(event.item, 'completed');
    case 'turn.completed':
      return [
        {
          type: 'usage',
          usage: {
            inputTokens: event.usage.input_tokens,
            cachedInputTokens: event.usage.cached_input_tokens,
            outputTokens: event.usage.output_tokens,
            reasoningTokens: event.usage.reasoning_output_tokens,
            cumulative: true,
          },
        },
        { type: 'done', outcome: 'completed' },
      ];
    case 'turn.failed':
      return [{ type: 'done', outcome: 'failed', error: event.error.message }];
    case 'error':
      // Non-fatal stream notices such as "Reconnecting… 2/5".
      return [{ type: 'notice', message: event.message }];
    default:
      return [];
  }
}

function toolStatus(phase: Phase, itemStatus: string | undefined): ToolStatus {
  if (itemStatus === 'failed') return 'failed';
  if (phase === 'completed') return 'completed';
  return phase;
}

function translateItem(item: ThreadItem, phase: Phase): AgentEvent[] {
  switch (item.type) {
    case 'agent_message':
      return phase === 'completed' ? [{ type: 'text', itemId: item.id, text: item.text, mode: 'whole' }] : [];
    case 'reasoning':
      return phase === 'completed' ? [{ type: 'reasoning', itemId: item.id, text: item.text }] : [];
    case 'command_execution': {
      // A non-zero exit is a failed command even when codex marks the item completed.
      const failed = item.status === 'failed' || (item.exit_code !== undefined && item.exit_code !== 0);
      const tool: ToolCall = {
        kind: 'command',
        id: item.id,
        status: phase === 'completed' && failed ? 'failed' : toolStatus(phase, item.status),
        command: item.command,
        output: item.aggregated_output,
        ...(item.exit_code !== undefined && item.exit_code !== null ? { exitCode: item.exit_code } : {}),
      };
      return [{ type: 'tool', tool }];
    }
    case 'file_change':
      return [
        {
          type: 'tool',
          tool: {
            kind: 'file_change',
            id: item.id,
            status: phase === 'started' ? 'started' : toolStatus(phase, item.status),
            changes: item.changes.map((c) => ({ path: c.path, change: c.kind })),
          },
        },
      ];
    case 'mcp_tool_call':
      return [
        {
          type: 'tool',
          tool: {
            kind: 'mcp',
            id: item.id,
            status: toolStatus(phase, item.status),
            server: item.server,
            tool: item.tool,
            ...(item.error ? { error: item.error.message } : {}),
          },
        },
      ];
    case 'web_search':
      return [{ type: 'tool', tool: { kind: 'web_search', id: item.id, status: phase, query: item.query } }];
    case 'todo_list':
      return [
        {
          type: 'tool',
          tool: {
            kind: 'todo',
            id: item.id,
            status: phase,
            items: item.items.map((t) => ({ text: t.text, done: t.completed })),
          },
        },
      ];
    case 'error':
      return [{ type: 'notice', message: item.message }];
    default:
      return [];
  }
}
