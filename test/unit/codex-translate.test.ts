import { describe, expect, it } from 'vitest';
import { translateCodexEvent } from '../../src/agents/codex-sdk/translate.js';

describe('codex event translation', () => {
  it('maps thread, items and turn events onto the agent-neutral contract', () => {
    expect(translateCodexEvent({ type: 'thread.started', thread_id: 't-1' })).toEqual([
      { type: 'session', sessionId: 't-1' },
    ]);
    expect(
      translateCodexEvent({
        type: 'item.completed',
        item: {
          id: 'item_0',
          type: 'command_execution',
          command: "/bin/bash -lc 'ls'",
          aggregated_output: 'a\n',
          exit_code: 2,
          status: 'completed',
        },
      }),
    ).toEqual([
      {
        type: 'tool',
        tool: {
          kind: 'command',
          id: 'item_0',
          status: 'failed',
          command: "/bin/bash -lc 'ls'",
          output: 'a\n',
          exitCode: 2,
        },
      },
    ]);
    expect(
      translateCodexEvent({ type: 'item.started', item: { id: 'item_1', type: 'agent_message', text: '' } }),
    ).toEqual([]);
    expect(
      translateCodexEvent({
        type: 'item.completed',
        item: { id: 'item_1', type: 'agent_message', text: 'hi' },
      }),
    ).toEqual([{ type: 'text', itemId: 'item_1', text: 'hi', mode: 'whole' }]);
    expect(
      translateCodexEvent({
        type: 'turn.completed',
        usage: {
          input_tokens: 10,
          cached_input_tokens: 2,
          cache_write_input_tokens: 0,
          output_tokens: 5,
          reasoning_output_tokens: 1,
        },
      }),
    ).toEqual([
      {
        type: 'usage',
        usage: {
          inputTokens: 10,
          cachedInputTokens: 2,
          outputTokens: 5,
          reasoningTokens: 1,
          cumulative: true,
        },
      },
      { type: 'done', outcome: 'completed' },
    ]);
    expect(translateCodexEvent({ type: 'turn.failed', error: { message: 'nope' } })).toEqual([
      { type: 'done', outcome: 'failed', error: 'nope' },
    ]);
    expect(
      translateCodexEvent({
        type: 'item.completed',
        item: {
          id: 'f',
          type: 'file_change',
          status: 'completed',
          changes: [{ path: '/w/a.txt', kind: 'add' }],
        },
      }),
    ).toEqual([
      {
        type: 'tool',
        tool: {
          kind: 'file_change',
          id: 'f',
          status: 'completed',
          changes: [{ path: '/w/a.txt', change: 'add' }],
        },
      },
    ]);
  });
});
