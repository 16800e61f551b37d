// The mock itself, over plain HTTP (no codex): control API, SSE framing, fallback, CLI.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectTurn } from '../support/codex-harness.js';
import {
  fallbackTurn,
  item,
  type MockModel,
  type RecordedRequest,
  recordRequest,
  reply,
  richTurn,
  startMockModel,
} from '../support/mock-model/index.js';
import { setupCodexRun, turnGuard } from './fixture.js';

function userMessage(text: string): unknown {
  return { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
}

function postResponses(mock: MockModel, input: unknown[], signal?: AbortSignal): Promise<Response> {
  return fetch(`${mock.baseUrl}/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'thread-id': 't-1' },
    body: JSON.stringify({ model: 'gpt-5.5', stream: true, input }),
    signal: signal ?? AbortSignal.timeout(5_000),
  });
}

/** Parse SSE `data:` lines into event objects. */
function sseEvents(text: string): { type: string; [key: string]: unknown }[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice('data: '.length)));
}

function fakeRequest(input: unknown[]): RecordedRequest {
  return recordRequest(JSON.stringify({ input }), {});
}

describe('mock model server', () => {
  let mock: MockModel;
  const controlUrl = (path: string): string => mock.baseUrl.replace(/\/v1$/, `/_mock/${path}`);

  beforeEach(async () => {
    mock = await startMockModel();
  });

  afterEach(async () => {
    await mock.close();
  });

  it('streams a queued message as SSE and records the request', async () => {
    mock.enqueue(reply.message('hello', { deltas: 2 }));
    const res = await postResponses(mock, [
      userMessage('<environment_context>\n  <cwd>/x</cwd>\n</environment_context>'),
      userMessage('hi there'),
    ]);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const types = sseEvents(await res.text()).map((event) => event.type);
    expect(types).toEqual([
      'response.created',
      'response.output_item.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0]).toMatchObject({
      lastUserText: 'hi there',
      allUserTexts: ['hi there'],
      lastItemType: 'message',
      threadId: 't-1',
    });
  });

  it('streams a reasoning summary the way the Responses API does', async () => {
    mock.enqueue(
      reply.items([item.reasoning('think hard', { id: 'rs_t' }), item.message('ok')], { deltas: 2 }),
    );
    const events = sseEvents(await (await postResponses(mock, [userMessage('x')])).text());
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events[1]).toMatchObject({ item: { type: 'reasoning', id: 'rs_t', summary: [] } });
    const deltas = events.filter((event) => event.type === 'response.reasoning_summary_text.delta');
    expect(deltas.map((event) => event.delta).join('')).toBe('think hard');
    expect(deltas[0]).toMatchObject({ item_id: 'rs_t', output_index: 0, summary_index: 0 });
    expect(events[7]).toMatchObject({ item: { summary: [{ type: 'summary_text', text: 'think hard' }] } });
  });

  it('serves turns FIFO, then falls back to markers', async () => {
    mock.enqueue(reply.message('one'), (req) => reply.message(`echo ${req.lastUserText}`));
    const texts: string[] = [];
    for (const prompt of ['a', 'b', 'c']) {
      const events = sseEvents(await (await postResponses(mock, [userMessage(prompt)])).text());
      const done = events.find((event) => event.type === 'response.output_item.done');
      texts.push(JSON.stringify(done));
    }
    expect(texts[0]).toContain('"one"');
    expect(texts[1]).toContain('"echo b"');
    expect(texts[2]).toContain('"ok: c"');
  });

  it('answers HTTP turns with the scripted status and body', async () => {
    mock.enqueue(reply.http(429, { error: { message: 'slow down' } }, { 'retry-after': '1' }));
    const res = await postResponses(mock, [userMessage('x')]);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('delays a slow turn before answering', async () => {
    mock.enqueue(reply.slow(150, reply.message('late')));
    const started = performance.now();
    await (await postResponses(mock, [userMessage('x')])).text();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('enqueues and lists over the control API', async () => {
    const enqueued = await fetch(controlUrl('enqueue'), {
      method: 'POST',
      body: JSON.stringify([reply.message('via control'), reply.http(503)]),
    });
    expect(await enqueued.json()).toEqual({ queued: 2 });
    const bad = await fetch(controlUrl('enqueue'), { method: 'POST', body: JSON.stringify([{ nope: 1 }]) });
    expect(bad.status).toBe(400);

    expect(await (await postResponses(mock, [userMessage('x')])).text()).toContain('via control');
    expect((await postResponses(mock, [userMessage('y')])).status).toBe(503);

    const listed = (await (await fetch(controlUrl('requests'))).json()) as RecordedRequest[];
    expect(listed.map((req) => req.lastUserText)).toEqual(['x', 'y']);

    await fetch(controlUrl('reset'), { method: 'POST' });
    expect(mock.requests).toHaveLength(0);
  });

  it('waitForRequests resolves on arrival and times out with a count', async () => {
    mock.enqueue(reply.hang());
    const aborter = new AbortController();
    const pending = postResponses(mock, [userMessage('stall')], aborter.signal).catch(() => undefined);
    const seen = await mock.waitForRequests(1, 2_000);
    expect(seen[0]!.lastUserText).toBe('stall');
    await expect(mock.waitForRequests(2, 50)).rejects.toThrow('expected 2 requests within 50 ms, got 1');
    aborter.abort();
    await pending;
  });

  it('close() ends a hanging stream', async () => {
    mock.enqueue(reply.hang());
    const res = await postResponses(mock, [userMessage('stall')]);
    const body = res.text().catch((error: unknown) => `closed: ${String(error)}`);
    await mock.close();
    expect(await body).toBeTypeOf('string');
  });
});

describe('fallback markers', () => {
  it('maps markers to turns, tool outputs to done', () => {
    const kind = (text: string): string => JSON.stringify(fallbackTurn(fakeRequest([userMessage(text)])));
    expect(kind('pre [[shell: ls -la]] post')).toContain('"name":"exec_command"');
    expect(kind('pre [[shell: ls -la]] post')).toContain('\\"cmd\\":\\"ls -la\\"');
    expect(kind('[[http500]]')).toContain('"status":500');
    expect(kind('x [[fail]]')).toContain('response.failed');
    expect(kind('x [[hang]]')).toContain('"hang":true');
    expect(kind('[[slow:250]] hi')).toContain('"delayMs":250');
    expect(kind('[[patch]]\n*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch')).toContain(
      '"name":"apply_patch"',
    );
    expect(kind('[[reply: custom]]')).toContain('"text":"custom"');
    expect(kind('x'.repeat(300))).toContain(`"text":"ok: ${'x'.repeat(200)}"`);

    const afterTool = [
      userMessage('[[shell: ls]] [[reply: finished]]'),
      { type: 'function_call_output', call_id: 'c1', output: 'o' },
    ];
    expect(JSON.stringify(fallbackTurn(fakeRequest(afterTool)))).toContain('"text":"finished"');
    const afterPatch = [
      userMessage('[[patch]]'),
      { type: 'custom_tool_call_output', call_id: 'c2', output: 'o' },
    ];
    expect(JSON.stringify(fallbackTurn(fakeRequest(afterPatch)))).toContain('"text":"done"');
  });
});

describe('rich turn', () => {
  it('is four JSON-safe responses; [[rich]] picks the step from the tool outputs of this turn', () => {
    const { turns } = richTurn({ id: 'rich' });
    expect(turns).toHaveLength(4);
    expect(JSON.parse(JSON.stringify(turns))).toEqual(turns);

    const doneItems = (turn: unknown): string[] =>
      ((turn as { events: { type: string; item?: { type: string; name?: string } }[] }).events ?? [])
        .filter((event) => event.type === 'response.output_item.done')
        .map((event) => [event.item?.type, event.item?.name].filter(Boolean).join(':'));
    const history: unknown[] = [
      userMessage('earlier turn'),
      { type: 'function_call_output', call_id: 'old', output: 'o' },
      userMessage('do it [[rich]]'),
    ];
    const steps: string[][] = [];
    for (const output of ['ok', 'fail', 'patch', 'extra', 'none']) {
      steps.push(doneItems(fallbackTurn(fakeRequest(history))));
      history.push({ type: output === 'patch' ? 'custom_tool_call_output' : 'function_call_output', output });
    }
    expect(steps).toEqual([
      ['reasoning', 'function_call:exec_command'],
      ['function_call:exec_command'],
      ['custom_tool_call:apply_patch'],
      ['message'],
      ['message'],
    ]);
  });
});

describe('mock model CLI and control API with codex', () => {
  it('runs standalone, scripted over HTTP, driving a real codex turn', async () => {
    const cliPath = fileURLToPath(new URL('../../src/playground/mock-model/cli.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', cliPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const [firstLine] = (await once(lines, 'line', { signal: AbortSignal.timeout(10_000) })) as [string];
      const { baseUrl } = JSON.parse(firstLine) as { baseUrl: string };
      const control = baseUrl.replace(/\/v1$/, '/_mock');

      await fetch(`${control}/enqueue`, {
        method: 'POST',
        body: JSON.stringify([reply.message('scripted from another process')]),
      });
      // The fixture only needs baseUrl from the mock.
      const run = await setupCodexRun({ baseUrl } as MockModel);
      try {
        const turn = await collectTurn(run.startThread(), 'cross-process', { signal: turnGuard() });
        expect(turn.finalText).toBe('scripted from another process');
      } finally {
        await run.cleanup();
      }
      const requests = (await (await fetch(`${control}/requests`)).json()) as RecordedRequest[];
      expect(requests).toHaveLength(1);
      expect(requests[0]!.lastUserText).toBe('cross-process');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
