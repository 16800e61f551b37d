// CodexAppServerRunner on the real `codex app-server` (mock model, offline, workspace-write): text
// deltas stream before the turn ends, tool items with exit codes, resume, interrupt, and a killed
// server failing its turn and restarting for the next one. One app-server for the whole file.
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CodexAppServerRunner } from '../../src/agents/codex-app-server/runner.js';
import { type AgentEvent, type RunRequest, RunStopped, type ToolCall } from '../../src/agents/types.js';
import { runRequest } from '../support/codex-app-server-harness.js';
import {
  codexChildEnv,
  codexProviderConfig,
  makeCodexHome,
  makeWorkspace,
} from '../support/codex-harness.js';
import { type MockModel, reply, richTurn, startMockModel } from '../support/mock-model/index.js';
import { codexProcessesFor } from '../support/process-tree.js';

/** The sandbox of each permissions block codex put in front of the model, oldest first. */
function sandboxModes(body: unknown): string[] {
  return [...JSON.stringify(body).matchAll(/sandbox_mode` is `([a-z-]+)`/g)].map((m) => m[1]!);
}

interface Timed {
  event: AgentEvent;
  /** ms since the run was called */
  at: number;
}

describe('CodexAppServerRunner on the real codex app-server', () => {
  let mock: MockModel;
  let workspace: string;
  let codexHome: string;
  let runner: CodexAppServerRunner;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    mock = await startMockModel();
    const home = await makeCodexHome();
    const ws = await makeWorkspace();
    codexHome = home.codexHome;
    // codex reports file paths under the directory it was given; resolve symlinks (macOS /var → /private/var).
    workspace = await realpath(ws.dir);
    runner = new CodexAppServerRunner({
      codexHome,
      childEnv: codexChildEnv(codexHome),
      config: codexProviderConfig(mock.baseUrl),
      apiKey: 'sk-test',
    });
    await runner.server.start();
    cleanup = async () => {
      await Promise.all([home.cleanup(), ws.cleanup()]);
    };
  });

  afterAll(async () => {
    await runner?.close();
    // stdin EOF ends it: nothing of this CODEX_HOME is left running.
    if (codexHome) expect(codexProcessesFor(codexHome)).toEqual([]);
    await mock?.close();
    await cleanup?.();
  });

  beforeEach(() => mock.reset());

  const request = (prompt: string, sessionId?: string) =>
    runRequest(prompt, { workspace, scopeId: 'chat:app-server', sessionId });

  async function run(
    req: RunRequest,
    opts: { signal?: AbortSignal; onEvent?: (event: AgentEvent) => void } = {},
  ): Promise<Timed[]> {
    const started = performance.now();
    const events: Timed[] = [];
    for await (const event of runner.run(req, opts.signal ?? AbortSignal.timeout(15_000))) {
      events.push({ event, at: performance.now() - started });
      opts.onEvent?.(event);
    }
    return events;
  }

  const only = (timed: Timed[]) => timed.map((t) => t.event);
  const done = (timed: Timed[]) => timed.at(-1)!.event as Extract<AgentEvent, { type: 'done' }>;
  const sessionOf = (timed: Timed[]) =>
    only(timed).find((e): e is Extract<AgentEvent, { type: 'session' }> => e.type === 'session')!.sessionId;
  function tools<K extends ToolCall['kind']>(timed: Timed[], kind: K): Extract<ToolCall, { kind: K }>[] {
    return only(timed).flatMap((e) =>
      e.type === 'tool' && e.tool.kind === kind ? [e.tool as Extract<ToolCall, { kind: K }>] : [],
    );
  }

  it('streams text deltas while the model is still answering, then completes', async () => {
    const text = 'Streaming from the app-server, one chunk at a time, before the turn is over.';
    mock.enqueue(reply.message(text, { deltas: 6, delayMsBetweenDeltas: 40 }));

    const timed = await run(request('say something slowly'));
    const events = only(timed);

    expect(events[0]).toMatchObject({ type: 'session' });
    expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    const deltas = timed.filter((t) => t.event.type === 'text' && t.event.mode === 'delta');
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    // They came as the model produced them: the first well before the turn ended.
    const doneAt = timed.at(-1)!.at;
    expect(deltas.every((d) => d.at < doneAt)).toBe(true);
    expect(doneAt - deltas[0]!.at).toBeGreaterThan(100);
    const itemId = (deltas[0]!.event as { itemId: string }).itemId;
    expect(deltas.map((d) => (d.event as { text: string }).text).join('')).toBe(text);
    // The completed item settles the same text under the same item id.
    expect(events).toContainEqual({ type: 'text', itemId, text, mode: 'whole' });
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningTokens: 0, cumulative: true },
    });

    const sessionAt = timed[0]!.at;
    console.info(
      `[app-server] session → first delta ${Math.round(deltas[0]!.at - sessionAt)} ms, ` +
        `run → done ${Math.round(doneAt)} ms`,
    );
  });

  it('turns a rich turn into reasoning, commands with exit codes, a file change and text', async () => {
    const rich = richTurn({ fileName: 'notes/app-server.md', fileContent: '# via app-server' });
    mock.enqueue(...rich.turns);

    const timed = await run(request('show me everything'));
    const events = only(timed);
    const expected = rich.expected;

    expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    const commands = tools(timed, 'command');
    const byId = (id: string) => commands.filter((c) => c.id === id);
    for (const want of expected.commands) {
      const [start, end, ...rest] = byId(want.callId);
      expect(rest).toEqual([]);
      expect(start).toMatchObject({ status: 'started', output: '' });
      expect(start).not.toHaveProperty('exitCode');
      expect(start!.command).toContain(want.command);
      expect(end).toMatchObject({ status: want.status, exitCode: want.exitCode });
      expect(end!.output).toContain(want.outputIncludes);
    }
    const changes = tools(timed, 'file_change');
    expect(changes.map((c) => c.status)).toEqual(['started', 'completed']);
    expect(changes[1]!.changes).toEqual([{ path: join(workspace, expected.file.name), change: 'add' }]);
    expect(await readFile(join(workspace, expected.file.name), 'utf8')).toBe(expected.file.content);

    const reasoning = events.filter((e) => e.type === 'reasoning');
    expect(reasoning.length).toBeGreaterThanOrEqual(2); // streamed summary, then the completed item
    expect(reasoning.at(-1)).toMatchObject({ text: expected.reasoningText });
    expect(events.filter((e) => e.type === 'text' && e.mode === 'delta').length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.type === 'text' && e.mode === 'whole').at(-1)).toMatchObject({
      text: expected.finalText,
    });
    // A fresh thread: the thread total is this turn's four responses.
    expect(events.filter((e) => e.type === 'usage').at(-1)).toEqual({
      type: 'usage',
      usage: { ...expected.usage, cumulative: true },
    });
    // Order: reasoning before the first command, every tool before the final text.
    const indexOf = (pred: (e: AgentEvent) => boolean) => events.findIndex(pred);
    expect(indexOf((e) => e.type === 'reasoning')).toBeLessThan(indexOf((e) => e.type === 'tool'));
    expect(indexOf((e) => e.type === 'tool' && e.tool.kind === 'file_change')).toBeLessThan(
      indexOf((e) => e.type === 'text'),
    );
    expect(mock.requests).toHaveLength(expected.requestCount);
  });

  it('resumes the same thread: the model sees the earlier turn', async () => {
    const first = await run(request('remember the word [[reply: noted]] pelican'));
    expect(done(first).outcome).toBe('completed');
    const sessionId = sessionOf(first);

    const second = await run(request('what was the word?', sessionId));
    expect(done(second).outcome).toBe('completed');
    expect(sessionOf(second)).toBe(sessionId);
    expect(only(second).some((e) => e.type === 'notice')).toBe(false);
    const last = mock.requests.at(-1)!;
    expect(last.threadId).toBe(sessionId);
    expect(last.allUserTexts).toEqual(['remember the word [[reply: noted]] pelican', 'what was the word?']);
  });

  it('gives a loaded thread the sandbox this run asks for (resume ignores overrides on a loaded thread)', async () => {
    const first = await run(request('[[reply: ok]] start here'));
    const sessionId = sessionOf(first);

    const readOnly = await run({
      ...request('[[reply: ok]] now read-only', sessionId),
      sandbox: 'read-only',
    });
    expect(done(readOnly).outcome).toBe('completed');
    expect(sandboxModes(mock.requests.at(-1)!.body)).toEqual(['workspace-write', 'read-only']);
  });

  it('starts a new thread, with a notice, when the session is unknown', async () => {
    const missing = '01a20000-0000-7000-8000-000000000000';
    const timed = await run(request('hello again', missing));
    expect(only(timed)[0]).toEqual({
      type: 'notice',
      message: `previous session ${missing} was not found; started a new one`,
    });
    expect(sessionOf(timed)).not.toBe(missing);
    expect(done(timed).outcome).toBe('completed');
  });

  it('interrupts a streaming turn within a second, as interrupted or timeout, and the thread goes on', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    mock.enqueue(reply.message(long, { deltas: 60, delayMsBetweenDeltas: 100 }));
    const stop = new AbortController();
    let abortedAt = 0;
    const timed = await run(request('talk for a while'), {
      signal: stop.signal,
      onEvent: (event) => {
        if (event.type === 'text' && !stop.signal.aborted) {
          abortedAt = performance.now();
          stop.abort(new RunStopped('interrupted'));
        }
      },
    });
    const stoppedMs = performance.now() - abortedAt;
    expect(done(timed)).toEqual({ type: 'done', outcome: 'interrupted' });
    expect(stoppedMs).toBeLessThan(1_000);
    const sessionId = sessionOf(timed);

    // A hung model, stopped by the watchdog: the outcome is the stop's reason.
    mock.enqueue(reply.hang());
    const watchdog = new AbortController();
    const hung = run(request('hang on', sessionId), { signal: watchdog.signal });
    await mock.waitForRequests(2);
    const t0 = performance.now();
    watchdog.abort(new RunStopped('timeout'));
    const timedOut = await hung;
    expect(done(timedOut)).toEqual({ type: 'done', outcome: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(1_000);

    // The interrupted turns really ended: the next one is a turn of its own, not a steer.
    const next = await run(request('[[reply: still here]] are you there?', sessionId));
    expect(done(next).outcome).toBe('completed');
    expect(only(next)).toContainEqual(expect.objectContaining({ type: 'text', text: 'still here' }));
    console.info(`[app-server] abort → done ${Math.round(stoppedMs)} ms`);
  });

  it('ends a run stopped before its turn started without starting one', async () => {
    const stop = new AbortController();
    const timed = await run(request('never sent'), {
      signal: stop.signal,
      onEvent: (event) => {
        if (event.type === 'session') stop.abort(new RunStopped('timeout'));
      },
    });
    expect(only(timed).map((e) => e.type)).toEqual(['session', 'done']);
    expect(done(timed)).toEqual({ type: 'done', outcome: 'timeout' });
    expect(mock.requests).toHaveLength(0);
  });

  it('fails the turn when the app-server dies mid-turn, and the next run restarts it', async () => {
    const first = await run(request('[[reply: before the crash]] keep this'));
    const sessionId = sessionOf(first);
    const generation = runner.server.generation;
    const pid = runner.server.pid!;

    mock.enqueue(reply.hang());
    const crashing = run(request('this turn will be lost', sessionId));
    await mock.waitForRequests(2);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const timed = await crashing;
    const failedMs = performance.now() - killedAt;
    expect(done(timed)).toMatchObject({ type: 'done', outcome: 'failed' });
    expect(done(timed).error).toMatch(/^codex app-server was killed by SIGKILL.*the turn did not finish$/s);
    expect(done(timed).error).not.toMatch(/bubblewrap/);
    expect(failedMs).toBeLessThan(1_000);

    // A new process, the same thread (resumed from CODEX_HOME), the workspace-write sandbox kept.
    const after = await run(request('[[reply: back again]] still there?', sessionId));
    expect(done(after).outcome).toBe('completed');
    expect(sessionOf(after)).toBe(sessionId);
    expect(runner.server.generation).toBe(generation + 1);
    expect(runner.server.pid).not.toBe(pid);
    const last = mock.requests.at(-1)!;
    expect(last.allUserTexts.at(0)).toBe('[[reply: before the crash]] keep this');
    expect(last.allUserTexts.at(-1)).toBe('[[reply: back again]] still there?');
    // Resume sent the sandbox again: no second permissions block falling back to read-only.
    expect(sandboxModes(last.body)).toEqual(['workspace-write']);
    console.info(`[app-server] SIGKILL → done failed ${Math.round(failedMs)} ms`);
  });
});
