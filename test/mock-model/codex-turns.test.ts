// The real codex binary against the mock: one scripted turn shape per test.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Codex } from '@openai/codex-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codexChildEnv, codexProviderConfig, collectTurn } from '../support/codex-harness.js';
import { item, type MockModel, reply, startMockModel } from '../support/mock-model/index.js';
import { type CodexRun, setupCodexRun, turnGuard } from './fixture.js';

describe('codex against the mock model', () => {
  let mock: MockModel;
  let run: CodexRun;

  beforeEach(async () => {
    mock = await startMockModel();
    run = await setupCodexRun(mock);
  });

  afterEach(async () => {
    await mock.close();
    await run.cleanup();
  });

  it('answers a message-only turn', async () => {
    mock.enqueue(reply.message('hello from the mock', { deltas: 4 }));
    const turn = await collectTurn(run.startThread(), 'say hi', { signal: turnGuard() });

    expect(turn.thrown).toBeUndefined();
    expect(turn.completed).toBe(true);
    expect(turn.finalText).toBe('hello from the mock');
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0]!.lastUserText).toBe('say hi');
    expect(mock.requests[0]!.threadId).toBe(turn.threadId);
    expect(mock.requests[0]!.headers.authorization).toBe('Bearer sk-test');
  });

  it('runs a shell call in the workspace and sends its output back', async () => {
    mock.enqueue(reply.shell('echo made-by-codex > out.txt && cat out.txt', { callId: 'call_shell' }));
    mock.enqueue(reply.message('file written'));
    const turn = await collectTurn(run.startThread(), 'write a file', { signal: turnGuard() });

    expect(turn.thrown).toBeUndefined();
    expect(turn.finalText).toBe('file written');
    expect(await readFile(join(run.workspace, 'out.txt'), 'utf8')).toBe('made-by-codex\n');
    const command = turn.items.find((it) => it.type === 'command_execution');
    expect(command).toMatchObject({ status: 'completed', exit_code: 0 });

    expect(mock.requests).toHaveLength(2);
    const second = mock.requests[1]!;
    expect(second.lastItemType).toBe('function_call_output');
    expect(second.toolOutputs).toHaveLength(1);
    expect(second.toolOutputs[0]!.callId).toBe('call_shell');
    expect(second.toolOutputs[0]!.output).toContain('made-by-codex');
  });

  it('surfaces a reasoning item before the message', async () => {
    mock.enqueue(reply.items([item.reasoning('thinking about it'), item.message('decided')]));
    const turn = await collectTurn(run.startThread(), 'think', { signal: turnGuard() });

    expect(turn.items.map((it) => it.type)).toEqual(['reasoning', 'agent_message']);
    expect(turn.items[0]).toMatchObject({ type: 'reasoning', text: 'thinking about it' });
    expect(turn.finalText).toBe('decided');
  });

  it('applies a patch as a file_change', async () => {
    const patch = '*** Begin Patch\n*** Add File: hello.txt\n+hi there\n*** End Patch\n';
    mock.enqueue(reply.applyPatch(patch), reply.message('patched'));
    const turn = await collectTurn(run.startThread(), 'add hello.txt', { signal: turnGuard() });

    expect(turn.thrown).toBeUndefined();
    const change = turn.items.find((it) => it.type === 'file_change');
    expect(change).toMatchObject({ status: 'completed', changes: [{ kind: 'add' }] });
    expect(await readFile(join(run.workspace, 'hello.txt'), 'utf8')).toBe('hi there\n');
    expect(mock.requests[1]!.lastItemType).toBe('custom_tool_call_output');
    expect(turn.finalText).toBe('patched');
  });

  it('maps response.failed to turn.failed, then the iterator throws', async () => {
    mock.enqueue(reply.failure('mock exploded'));
    const turn = await collectTurn(run.startThread(), 'fail please', { signal: turnGuard() });

    expect(turn.failure).toBe('stream disconnected before completion: mock exploded');
    expect(String(turn.thrown)).toContain('Codex Exec exited with code 1');
    expect(turn.completed).toBe(false);
  });

  it('maps HTTP 500 to a failed turn without retrying', async () => {
    mock.enqueue(reply.http(500));
    const turn = await collectTurn(run.startThread(), 'server error please', { signal: turnGuard() });

    // Codex's fixed wording for 5xx, whatever the body says.
    expect(turn.failure).toContain('experiencing high demand');
    expect(turn.thrown).toBeInstanceOf(Error);
    expect(mock.requests).toHaveLength(1);
  });

  it('fails a stalled stream after the configured idle timeout', async () => {
    mock.enqueue(reply.hang());
    const codex = new Codex({
      apiKey: 'sk-test',
      env: codexChildEnv(run.codexHome),
      config: codexProviderConfig(mock.baseUrl, { streamIdleTimeoutMs: 300 }),
    });
    const thread = codex.startThread({ workingDirectory: run.workspace, skipGitRepoCheck: true });
    const turn = await collectTurn(thread, 'stall', { signal: turnGuard() });

    expect(turn.failure).toBe('stream disconnected before completion: idle timeout waiting for SSE');
  });
});
