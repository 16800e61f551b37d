import { describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { createRunnerLogic } from '../../machines/runner.js';
import { type FinishedRun, scopeMachine } from '../../machines/scope.machine.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

function message(id: string, text: string): MessageInput {
  return {
    kind: 'message',
    scopeId: 'chat:oc_1',
    messageId: id,
    actorId: 'ou_owner',
    chat: { chatId: 'oc_1', chatType: 'p2p' },
    text,
    receivedAt: 0,
  };
}

function startScope(sessionId?: string) {
  const agent = new ScriptedAgent();
  const published: FinishedRun[] = [];
  const machine = scopeMachine.provide({
    actors: { runner: createRunnerLogic({ agent, now: () => 1000 }) },
    actions: { publishRunResult: (_, params) => void published.push(params.run) },
  });
  const actor = createActor(machine, {
    input: {
      scopeId: 'chat:oc_1',
      settings: { workspace: '/work/project', sandbox: 'workspace-write', networkAccess: false },
      ...(sessionId ? { sessionId } : {}),
    },
  }).start();
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { agent, actor, published, settle };
}

describe('scope machine', () => {
  it('runs a message, reports the outcome and returns to idle', async () => {
    const { agent, actor, published, settle } = startScope();
    actor.send({ type: 'input.message', input: message('om_1', 'hello') });
    expect(actor.getSnapshot().matches({ running: 'working' })).toBe(true);
    await settle();
    expect(agent.current.request.prompt).toBe('hello');
    expect(agent.current.request.sessionId).toBeUndefined();
    agent.current.push({ type: 'session', sessionId: 'thread-1' });
    agent.current.push({ type: 'text', itemId: 'i1', text: 'hi there', mode: 'whole' });
    agent.current.finish();
    await waitFor(actor, (s) => s.matches('idle'));
    expect(published).toHaveLength(1);
    expect(published[0]?.state.outcome).toBe('completed');
    expect(published[0]?.state.blocks).toEqual([{ kind: 'text', itemId: 'i1', text: 'hi there' }]);
    expect(actor.getSnapshot().context.sessionId).toBe('thread-1');
    expect(actor.getSnapshot().context.pendingInputs).toEqual([]);
  });

  it('queues messages that arrive during a run and runs them next as one input, in order', async () => {
    const { agent, actor, published, settle } = startScope('thread-9');
    actor.send({ type: 'input.message', input: message('om_1', 'first') });
    await settle();
    actor.send({ type: 'input.message', input: message('om_2', 'second') });
    actor.send({ type: 'input.message', input: message('om_3', 'third') });
    expect(actor.getSnapshot().matches({ running: 'queued' })).toBe(true);
    expect(agent.runs).toHaveLength(1);
    agent.current.finish();
    await waitFor(actor, (s) => s.matches({ running: 'working' }) && agent.runs.length === 2);
    await settle();
    expect(agent.runs[0]?.ended).toBe(true);
    expect(agent.current.request.prompt).toBe('second\n\nthird');
    expect(agent.current.request.sessionId).toBe('thread-9');
    expect(published.map((r) => r.inputs.map((i) => i.messageId))).toEqual([['om_1']]);
    agent.current.finish();
    await waitFor(actor, (s) => s.matches('idle'));
    expect(published.map((r) => r.inputs.map((i) => i.messageId))).toEqual([['om_1'], ['om_2', 'om_3']]);
    expect(agent.live()).toHaveLength(0);
  });

  it('reports a crashed agent as failed, never silently', async () => {
    const { agent, actor, published, settle } = startScope();
    actor.send({ type: 'input.message', input: message('om_1', 'boom') });
    await settle();
    agent.current.crash(new Error('backend exploded'));
    await waitFor(actor, (s) => s.matches('idle'));
    expect(published[0]?.state.outcome).toBe('failed');
    expect(published[0]?.state.error).toContain('backend exploded');
  });

  it('on shutdown reports the run in flight as interrupted and aborts the agent', async () => {
    const { agent, actor, published, settle } = startScope();
    actor.send({ type: 'input.message', input: message('om_1', 'long job') });
    await settle();
    actor.send({ type: 'daemon.shutdown', at: 2000 });
    expect(actor.getSnapshot().status).toBe('done');
    await settle();
    expect(agent.current.aborted).toBe(true);
    expect(agent.live()).toHaveLength(0);
    expect(published).toHaveLength(1);
    expect(published[0]?.state.outcome).toBe('interrupted');
  });
});
