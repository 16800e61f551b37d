import { describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { createRunnerLogic } from '../../machines/runner.js';
import { type FinishedRun, type ScopeSeed, scopeMachine } from '../../machines/scope.machine.js';
import { type ScopeActorRef, supervisorMachine } from '../../machines/supervisor.machine.js';
import type { MessageInput } from '../../src/core/bridge-input.js';
import { ScriptedAgent } from '../support/scripted-agent.js';

const settings = { workspace: '/work/project', sandbox: 'workspace-write', networkAccess: false } as const;

function input(scopeId: string, id: string, text: string): MessageInput {
  const chatId = scopeId.split(':')[1] ?? 'oc_x';
  return {
    kind: 'message',
    scopeId,
    messageId: id,
    actorId: 'ou_a',
    chat: { chatId, chatType: 'p2p' },
    text,
    receivedAt: 0,
  };
}

function seed(scopeId: string, sessionId?: string): ScopeSeed {
  return { scopeId, settings, ...(sessionId ? { sessionId } : {}) };
}

function startSupervisor() {
  const agent = new ScriptedAgent();
  const published: FinishedRun[] = [];
  const scope = scopeMachine.provide({
    actors: { runner: createRunnerLogic({ agent, now: () => 0 }) },
    actions: { publishRunResult: (_, params) => void published.push(params.run) },
  });
  const actor = createActor(supervisorMachine.provide({ actors: { scope } })).start();
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  const scopeRef = (id: string) => actor.system.get(id) as ScopeActorRef | undefined;
  return { agent, actor, published, settle, scopeRef };
}

describe('supervisor machine', () => {
  it('spawns one scope per scope id and runs scopes independently, with their stored session', async () => {
    const { agent, actor, settle, scopeRef } = startSupervisor();
    actor.send({
      type: 'input.received',
      input: input('chat:oc_a', 'om_1', 'a1'),
      seed: seed('chat:oc_a', 'thread-a'),
    });
    actor.send({ type: 'input.received', input: input('chat:oc_b', 'om_2', 'b1'), seed: seed('chat:oc_b') });
    await settle();
    expect(Object.keys(actor.getSnapshot().children).sort()).toEqual(['chat:oc_a', 'chat:oc_b']);
    expect(agent.runs.map((r) => [r.request.scopeId, r.request.sessionId])).toEqual([
      ['chat:oc_a', 'thread-a'],
      ['chat:oc_b', undefined],
    ]);
    // A second message to a busy scope queues there; the seed is ignored for an existing scope.
    actor.send({
      type: 'input.received',
      input: input('chat:oc_a', 'om_3', 'a2'),
      seed: seed('chat:oc_a', 'other'),
    });
    expect(scopeRef('chat:oc_a')?.getSnapshot().matches({ running: 'queued' })).toBe(true);
    expect(scopeRef('chat:oc_a')?.getSnapshot().context.sessionId).toBe('thread-a');
    expect(agent.runs).toHaveLength(2);
  });

  it('on shutdown every scope reports its run as interrupted', async () => {
    const { agent, actor, published, settle } = startSupervisor();
    actor.send({ type: 'input.received', input: input('chat:oc_a', 'om_1', 'a'), seed: seed('chat:oc_a') });
    actor.send({ type: 'input.received', input: input('chat:oc_b', 'om_2', 'b'), seed: seed('chat:oc_b') });
    await settle();
    actor.send({ type: 'daemon.shutdown', at: 5 });
    expect(actor.getSnapshot().matches('shuttingDown')).toBe(true);
    await settle();
    expect(published.map((r) => [r.scopeId, r.state.outcome]).sort()).toEqual([
      ['chat:oc_a', 'interrupted'],
      ['chat:oc_b', 'interrupted'],
    ]);
    expect(agent.live()).toHaveLength(0);
  });

  it('survives a scope that crashes and serves the scope again on its next input', async () => {
    const agent = new ScriptedAgent();
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    const crashing = scopeMachine.provide({
      actors: { runner: createRunnerLogic({ agent, now: () => 0 }) },
      actions: {
        publishRunResult: () => {
          throw new Error('renderer bug');
        },
      },
    });
    const sup = createActor(supervisorMachine.provide({ actors: { scope: crashing } })).start();
    sup.send({ type: 'input.received', input: input('chat:oc_c', 'om_1', 'x'), seed: seed('chat:oc_c') });
    await settle();
    agent.current.finish();
    await waitFor(
      sup,
      (s) =>
        s.children['chat:oc_c'] === undefined || s.children['chat:oc_c']?.getSnapshot().status === 'error',
    );
    expect(sup.getSnapshot().status).toBe('active');
    // The next input respawns the scope.
    sup.send({ type: 'input.received', input: input('chat:oc_c', 'om_2', 'y'), seed: seed('chat:oc_c') });
    await settle();
    expect(agent.runs).toHaveLength(2);
    expect(agent.current.request.prompt).toBe('y');
  });
});
