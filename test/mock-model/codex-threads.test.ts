// Thread-level behaviour through the real codex binary: resume, abort, prompt-marker fallback.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectTurn } from '../support/codex-harness.js';
import { type MockModel, reply, startMockModel } from '../support/mock-model/index.js';
import { type CodexRun, setupCodexRun, turnGuard } from './fixture.js';

describe('codex threads against the mock model', () => {
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

  it('resumes a thread with the first turn in its history', async () => {
    mock.enqueue(reply.message('first answer'), reply.message('second answer'));
    const first = await collectTurn(run.startThread(), 'remember the word pineapple', {
      signal: turnGuard(),
    });
    expect(first.finalText).toBe('first answer');
    expect(first.threadId).toBeTruthy();

    const resumed = run.codex.resumeThread(first.threadId!, {
      workingDirectory: run.workspace,
      skipGitRepoCheck: true,
      sandboxMode: 'workspace-write',
      approvalPolicy: 'never',
    });
    const second = await collectTurn(resumed, 'what was the word?', { signal: turnGuard() });

    expect(second.thrown).toBeUndefined();
    expect(second.threadId).toBe(first.threadId);
    expect(second.finalText).toBe('second answer');
    const request = mock.requests[1]!;
    expect(request.threadId).toBe(first.threadId);
    expect(request.allUserTexts).toEqual(['remember the word pineapple', 'what was the word?']);
    expect(JSON.stringify(request.inputItems)).toContain('first answer');
  });

  it('follows prompt markers when the queue is empty', async () => {
    const prompt = 'context from larkcode\n\nplease [[shell: echo marker > m.txt]] [[reply: all set]]';
    const turn = await collectTurn(run.startThread(), prompt, { signal: turnGuard() });

    expect(turn.thrown).toBeUndefined();
    expect(await readFile(join(run.workspace, 'm.txt'), 'utf8')).toBe('marker\n');
    expect(turn.finalText).toBe('all set');
    expect(mock.requests.map((req) => req.lastItemType)).toEqual(['message', 'function_call_output']);

    const plain = await collectTurn(run.startThread(), 'just chatting', { signal: turnGuard() });
    expect(plain.finalText).toBe('ok: just chatting');

    const failed = await collectTurn(run.startThread(), 'wrapped [[fail]] text', { signal: turnGuard() });
    expect(failed.failure).toContain('mock failure requested by [[fail]]');
  });

  it('aborts a hanging stream within a second', async () => {
    mock.enqueue(reply.hang());
    const controller = new AbortController();
    const guard = turnGuard();
    const turnDone = collectTurn(run.startThread(), 'hang', {
      signal: AbortSignal.any([controller.signal, guard]),
    });

    await mock.waitForRequests(1, 10_000);
    const abortedAt = performance.now();
    controller.abort();
    const turn = await turnDone;
    const abortMs = performance.now() - abortedAt;

    expect(turn.thrown).toMatchObject({ name: 'AbortError' });
    expect(turn.completed).toBe(false);
    expect(abortMs).toBeLessThan(1_000);
  });
});
