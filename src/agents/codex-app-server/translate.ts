import type { AgentEvent, RunOutcome, ToolCall, ToolStatus } from '../types.js';
import { type AppServerNotification, isNotification, type ThreadItem, type Turn } from './protocol.js';

/**
 * `codex app-server` notifications of one turn → AgentEvents. Stateful (reasoning summaries and
 * the plan arrive in pieces), one instance per turn. The terminal `done` comes from
 * `turn/completed`; the runner owns the one-outcome rule (abort, a dead server).
 * Facts: shared/research/codex-app-server-offline.md §2.
 */
export class TurnTranslator {
  /** Summary parts of each reasoning item, as they stream. */
  readonly #reasoning = new Map<string, string[]>();
  #plan: { id: string; items: { text: string; done: boolean }[] } | undefined;

  constructor(readonly turnId: string) {}

  /** Events for one notification of this thread; notifications of another turn give none. */
  translate(notification: AppServerNotification): AgentEvent[] {
    const turnId = turnIdOf(notification.params);
    if (turnId !== undefined && turnId !== this.turnId) return [];

    if (isNotification(notification, 'item/agentMessage/delta')) {
      const { itemId, delta } = notification.params;
      return delta ? [{ type: 'text', itemId, text: delta, mode: 'delta' }] : [];
    }
    if (isNotification(notification, 'item/reasoning/summaryTextDelta')) {
      const { itemId, delta, summaryIndex } = notification.params;
      const parts = this.#reasoning.get(itemId) ?? [];
      parts[summaryIndex] = (parts[summaryIndex] ?? '') + delta;
      this.#reasoning.set(itemId, parts);
      const text = joinParts(parts);
      return text ? [{ type: 'reasoning', itemId, text }] : [];
    }
    if (isNotification(notification, 'item/started')) return this.#item(notification.params.item, 'started');
    if (isNotification(notification, 'item/completed'))
      return this.#item(notification.params.item, 'completed');
    if (isNotification(notification, 'thread/tokenUsage/updated')) {
      const { total } = notification.params.tokenUsage;
      return [
        {
          type: 'usage',
          usage: {
            inputTokens: total.inputTokens,
            cachedInputTokens: total.cachedInputTokens,
            outputTokens: total.outputTokens,
            reasoningTokens: total.reasoningOutputTokens,
            // `total` sums the whole thread (restored on resume); `last` is one model request, and a
            // stale `last` is re-sent at the first turn after a resume, so per-turn sums would lie.
            cumulative: true,
          },
        },
      ];
    }
    if (isNotification(notification, 'turn/plan/updated')) {
      const started = this.#plan === undefined;
      this.#plan = {
        id: `plan_${this.turnId}`,
        items: notification.params.plan.map((step) => ({
          text: step.step,
          done: step.status === 'completed',
        })),
      };
      return [this.#planEvent(started ? 'started' : 'updated')];
    }
    if (isNotification(notification, 'error')) {
      // A final error is repeated by turn/completed (failed); a retried one is worth a line.
      const { error, willRetry } = notification.params;
      return willRetry && error.message ? [{ type: 'notice', message: error.message }] : [];
    }
    if (notification.method === 'warning') {
      const message = (notification.params as { message?: unknown }).message;
      return typeof message === 'string' && message ? [{ type: 'notice', message }] : [];
    }
    if (isNotification(notification, 'turn/completed')) {
      const events: AgentEvent[] = this.#plan ? [this.#planEvent('completed')] : [];
      events.push(turnOutcome(notification.params.turn));
      return events;
    }
    return [];
  }

  #planEvent(status: ToolStatus): AgentEvent {
    const plan = this.#plan!;
    return { type: 'tool', tool: { kind: 'todo', id: plan.id, status, items: plan.items } };
  }

  #item(item: ThreadItem, phase: 'started' | 'completed'): AgentEvent[] {
    switch (item.type) {
      case 'agentMessage':
        // Deltas built it up; the whole text settles it (and covers a message that never streamed).
        return phase === 'completed'
          ? [{ type: 'text', itemId: item.id, text: item.text, mode: 'whole' }]
          : [];
      case 'reasoning': {
        if (phase !== 'completed') return [];
        const text =
          joinParts(item.summary) || joinParts(item.content) || joinParts(this.#reasoning.get(item.id));
        this.#reasoning.delete(item.id);
        return text ? [{ type: 'reasoning', itemId: item.id, text }] : [];
      }
      case 'commandExecution': {
        const exitCode = item.exitCode ?? undefined;
        const failed =
          item.status === 'failed' ||
          item.status === 'declined' ||
          (exitCode !== undefined && exitCode !== 0);
        const tool: ToolCall = {
          kind: 'command',
          id: item.id,
          status: phase === 'started' ? 'started' : failed ? 'failed' : 'completed',
          command: item.command,
          output: item.aggregatedOutput ?? '',
          ...(exitCode !== undefined ? { exitCode } : {}),
        };
        return [{ type: 'tool', tool }];
      }
      case 'fileChange':
        return [
          {
            type: 'tool',
            tool: {
              kind: 'file_change',
              id: item.id,
              status: itemStatus(phase, item.status),
              changes: item.changes.map((change) => ({ path: change.path, change: change.kind.type })),
            },
          },
        ];
      case 'mcpToolCall':
        return [
          {
            type: 'tool',
            tool: {
              kind: 'mcp',
              id: item.id,
              status: itemStatus(phase, item.status),
              server: item.server,
              tool: item.tool,
              ...(item.error?.message ? { error: item.error.message } : {}),
            },
          },
        ];
      case 'webSearch': {
        // The query is only filled in on completion.
        const query = item.query || item.action?.query || item.action?.queries?.join(', ') || '';
        return [{ type: 'tool', tool: { kind: 'web_search', id: item.id, status: phase, query } }];
      }
      case 'contextCompaction':
        return phase === 'completed' ? [{ type: 'notice', message: 'codex compacted the conversation' }] : [];
      default:
        return [];
    }
  }
}

/** `turn/completed` → the run's outcome. An interrupt the runner asked for is mapped by the runner. */
export function turnOutcome(turn: Turn): Extract<AgentEvent, { type: 'done' }> {
  const outcome: RunOutcome =
    turn.status === 'completed' ? 'completed' : turn.status === 'interrupted' ? 'interrupted' : 'failed';
  if (outcome !== 'failed') return { type: 'done', outcome };
  return { type: 'done', outcome, error: turn.error?.message || `codex ended the turn as ${turn.status}` };
}

function itemStatus(phase: 'started' | 'completed', status: string): ToolStatus {
  if (phase === 'started') return 'started';
  return status === 'failed' || status === 'declined' ? 'failed' : 'completed';
}

function joinParts(parts: readonly (string | undefined)[] | undefined): string {
  return (parts ?? []).filter((part): part is string => Boolean(part)).join('\n\n');
}

function turnIdOf(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as { turnId?: unknown; turn?: { id?: unknown } };
  if (typeof p.turnId === 'string') return p.turnId;
  if (typeof p.turn?.id === 'string') return p.turn.id;
  return undefined;
}
