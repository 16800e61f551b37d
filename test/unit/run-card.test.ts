import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../src/agents/types.js';
import { displayCommand } from '../../src/cards/markdown.js';
import { renderFinalRunCard } from '../../src/cards/run-card.js';
import { initialRunState, reduceRunState } from '../../src/cards/run-state.js';

const context = {
  elapsedMs: 65_000,
  workspace: '/work/project',
  sandbox: 'workspace-write',
  agent: 'codex-sdk',
};

function fold(events: AgentEvent[]) {
  return events.reduce(reduceRunState, initialRunState('run_om_1'));
}

describe('final run card', () => {
  it('shows outcome, answer, each command with exit code and output, and a footer', () => {
    const state = fold([
      { type: 'session', sessionId: 't' },
      {
        type: 'tool',
        tool: {
          kind: 'command',
          id: 'c1',
          status: 'started',
          command: "/bin/bash -lc 'printf hi > hello.txt'",
          output: '',
        },
      },
      {
        type: 'tool',
        tool: {
          kind: 'command',
          id: 'c1',
          status: 'completed',
          command: "/bin/bash -lc 'printf hi > hello.txt'",
          output: '',
          exitCode: 0,
        },
      },
      { type: 'text', itemId: 'm1', text: 'Created **hello.txt**.', mode: 'whole' },
      { type: 'done', outcome: 'completed' },
    ]);
    expect(renderFinalRunCard(state, context)).toMatchSnapshot();
  });

  it('says how a run ended even without an answer', () => {
    const failed = fold([{ type: 'done', outcome: 'failed', error: 'boom' }]);
    const card = JSON.stringify(renderFinalRunCard(failed, context));
    expect(card).toContain('❌ Failed');
    expect(card).toContain('boom');
    const interrupted = JSON.stringify(
      renderFinalRunCard(fold([{ type: 'done', outcome: 'interrupted' }]), context),
    );
    expect(interrupted).toContain('⏹ Interrupted');
    expect(interrupted).toContain('stopped before the agent answered');
  });

  it('unwraps the shell codex wraps commands in', () => {
    expect(displayCommand("/bin/bash -lc 'echo '\\''quoted'\\'''")).toBe("echo 'quoted'");
    expect(displayCommand('/bin/bash -lc "ls -la"')).toBe('ls -la');
    expect(displayCommand('git status')).toBe('git status');
  });
});
