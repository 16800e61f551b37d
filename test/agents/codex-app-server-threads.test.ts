// Thread management on the real `codex app-server` (mock model, offline) through CodexAppServer:
// list (newest first, with preview text), page, read, name, fork (the fork's model request carries
// the parent's history), archive/unarchive. One app-server for the file; each test works in its
// own cwd and lists with a cwd filter, so the tests do not see each other's threads.
//
// Observed with codex 0.163.0:
// - thread/list rows are full Threads (turns: []): preview = the first user message, name (null until
//   thread/name/set), cwd, createdAt/updatedAt/recencyAt in Unix seconds, source "vscode", modelProvider,
//   path; forkedFromId is null there even for forks (thread/read has it). Threads without a user message
//   yet (a fresh fork, a thread with no turn) are not listed. The result also has `readStates` per thread.
// - Default order: created_at, newest first (same-second ties newest first too). Its cursor is whole
//   seconds and the next page starts strictly before it, so rows created in the same second as a page's
//   last row are skipped; `sortKey: "recency_at"` cursors are `<ms time>|<id>` and page without gaps.
//   `excludedThreadIds` with `limit` dropped rows too (limit applied before the exclusion).
// - searchTerm matches the preview and the name. A fork inherits the name; its preview is its own first
//   prompt. Unknown ids: archive/name → "no rollout found for thread id …", read → "thread not loaded: …".
// - Archived: turn/start → "thread not found: <id>", thread/resume → "session <id> is archived. Run
//   `codex unarchive <id>` …". After unarchive (status notLoaded) turn/start still fails until thread/resume.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CodexAppServer } from '../../src/agents/codex-app-server/server.js';
import {
  type AppServerFixture,
  runTurn,
  startAppServer,
  startThread,
} from '../support/codex-app-server-harness.js';
import { type MockModel, startMockModel } from '../support/mock-model/index.js';

describe('CodexAppServer thread management on the real codex app-server', () => {
  let mock: MockModel;
  let app: AppServerFixture;
  let server: CodexAppServer;
  let dirCounter = 0;

  beforeAll(async () => {
    mock = await startMockModel();
    app = await startAppServer(mock);
    server = app.server;
  });

  afterAll(async () => {
    await app?.close();
    await mock?.close();
  });

  beforeEach(() => mock.reset());

  async function freshCwd(): Promise<string> {
    dirCounter += 1;
    const dir = join(app.workspace, `cwd-${dirCounter}`);
    await mkdir(dir);
    return dir;
  }

  /** Resume and fork fall back to read-only unless the sandbox is sent again (research §6). */
  const threadSettings = (cwd: string) =>
    ({ cwd, sandbox: 'workspace-write', approvalPolicy: 'never' }) as const;

  /** A thread with one completed turn. */
  async function threadWithTurn(cwd: string, prompt: string): Promise<string> {
    const { thread } = await startThread(server, cwd);
    const { turn } = await runTurn(server, thread.id, prompt);
    expect(turn.status).toBe('completed');
    return thread.id;
  }

  const turnStart = (threadId: string) =>
    server.startTurn({ threadId, input: [{ type: 'text', text: 'anyone there?', text_elements: [] }] });

  it('lists threads newest first with preview, cwd and timestamps; pages; searches; names; reads', async () => {
    const cwd = await freshCwd();
    const first = await threadWithTurn(cwd, '[[reply: alpha]] first thread, about pelicans');
    const second = await threadWithTurn(cwd, '[[reply: beta]] second thread, about herons');

    const listed = await server.listThreads({ cwd });
    expect(listed.data.map((t) => t.id)).toEqual([second, first]);
    expect(listed.nextCursor).toBeNull();
    const [b, a] = listed.data;
    expect(a).toMatchObject({
      preview: '[[reply: alpha]] first thread, about pelicans',
      name: null,
      cwd,
      status: { type: 'idle' },
      modelProvider: 'mock',
      source: 'vscode',
      turns: [],
    });
    expect(b).toMatchObject({ preview: '[[reply: beta]] second thread, about herons', cwd });
    const nowSeconds = Date.now() / 1000;
    expect(Math.abs(a!.createdAt - nowSeconds)).toBeLessThan(60);
    expect(b!.updatedAt).toBeGreaterThanOrEqual(b!.createdAt);

    // recency_at pages without the same-second gap of the default created_at cursor.
    const page1 = await server.listThreads({ cwd, limit: 1, sortKey: 'recency_at' });
    expect(page1.data.map((t) => t.id)).toEqual([second]);
    expect(page1.nextCursor).toBeTypeOf('string');
    const page2 = await server.listThreads({
      cwd,
      limit: 1,
      sortKey: 'recency_at',
      cursor: page1.nextCursor!,
    });
    expect(page2.data.map((t) => t.id)).toEqual([first]);

    expect((await server.listThreads({ cwd, searchTerm: 'herons' })).data.map((t) => t.id)).toEqual([second]);

    await server.setThreadName(first, 'Pelican notes');
    expect((await server.listThreads({ cwd })).data.find((t) => t.id === first)?.name).toBe('Pelican notes');
    expect((await server.listThreads({ cwd, searchTerm: 'Pelican notes' })).data.map((t) => t.id)).toEqual([
      first,
    ]);

    expect(await server.readThread(first)).toMatchObject({
      id: first,
      name: 'Pelican notes',
      cwd,
      turns: [],
    });
    const { turns } = await server.readThread(first, true);
    expect(turns).toHaveLength(1);
    expect(turns![0]).toMatchObject({ status: 'completed' });
    expect(turns![0]!.items.map((item) => item.type)).toEqual(['userMessage', 'agentMessage']);

    await expect(server.setThreadName('01a20000-0000-7000-8000-000000000000', 'x')).rejects.toThrow(
      /no rollout found/,
    );
  });

  it("forks a thread: the fork's model request carries the parent's history, cut at lastTurnId", async () => {
    const cwd = await freshCwd();
    const parent = await threadWithTurn(cwd, '[[reply: noted, pelican]] remember the word pelican');
    await runTurn(server, parent, '[[reply: noted, heron]] and the word heron');
    await server.setThreadName(parent, 'Birds');

    const fork = await server.forkThread({ threadId: parent, ...threadSettings(cwd) });
    expect(fork.thread.id).not.toBe(parent);
    expect(fork.sandbox).toMatchObject({ type: 'workspaceWrite' });
    expect(fork.thread.turns).toHaveLength(2);
    expect(await server.readThread(fork.thread.id)).toMatchObject({ forkedFromId: parent, name: 'Birds' });
    // Not listed before a prompt of its own.
    expect((await server.listThreads({ cwd })).data.map((t) => t.id)).toEqual([parent]);

    mock.reset();
    const { finalText } = await runTurn(server, fork.thread.id, '[[reply: both]] which words?');
    expect(finalText).toBe('both');
    const request = mock.requests.at(-1)!;
    expect(request.threadId).toBe(fork.thread.id);
    expect(request.allUserTexts).toEqual([
      '[[reply: noted, pelican]] remember the word pelican',
      '[[reply: noted, heron]] and the word heron',
      '[[reply: both]] which words?',
    ]);
    expect(JSON.stringify(request.inputItems)).toContain('noted, heron');

    const listed = await server.listThreads({ cwd });
    expect(listed.data.map((t) => t.id)).toEqual([fork.thread.id, parent]);
    expect(listed.data[0]).toMatchObject({ preview: '[[reply: both]] which words?', name: 'Birds' });

    // lastTurnId: the history up to and including that turn only.
    const parentTurns = (await server.readThread(parent, true)).turns!;
    const early = await server.forkThread({
      threadId: parent,
      lastTurnId: parentTurns[0]!.id,
      ...threadSettings(cwd),
    });
    await runTurn(server, early.thread.id, 'what do you remember?');
    expect(mock.requests.at(-1)!.allUserTexts).toEqual([
      '[[reply: noted, pelican]] remember the word pelican',
      'what do you remember?',
    ]);
  });

  it('archives a thread: hidden from the list, listed with archived:true, no turns until unarchived and resumed', async () => {
    const cwd = await freshCwd();
    const kept = await threadWithTurn(cwd, 'keep me');
    const archived = await threadWithTurn(cwd, 'archive me');

    await server.archiveThread(archived);
    expect((await server.listThreads({ cwd })).data.map((t) => t.id)).toEqual([kept]);
    expect((await server.listThreads({ cwd, archived: true })).data.map((t) => t.id)).toEqual([archived]);
    expect(await server.readThread(archived)).toMatchObject({ id: archived, status: { type: 'notLoaded' } });
    await expect(turnStart(archived)).rejects.toThrow(`thread not found: ${archived}`);
    await expect(server.resumeThread({ threadId: archived, ...threadSettings(cwd) })).rejects.toThrow(
      /is archived/,
    );

    const restored = await server.unarchiveThread(archived);
    expect(restored).toMatchObject({ id: archived, preview: 'archive me', status: { type: 'notLoaded' } });
    expect((await server.listThreads({ cwd })).data.map((t) => t.id)).toEqual([archived, kept]);
    expect((await server.listThreads({ cwd, archived: true })).data).toEqual([]);
    await expect(turnStart(archived)).rejects.toThrow(`thread not found: ${archived}`);

    await server.resumeThread({ threadId: archived, ...threadSettings(cwd) });
    const { finalText } = await runTurn(server, archived, '[[reply: back]] hello again');
    expect(finalText).toBe('back');
    expect(mock.requests.at(-1)!.allUserTexts).toEqual(['archive me', '[[reply: back]] hello again']);

    await expect(server.archiveThread('01a20000-0000-7000-8000-000000000000')).rejects.toThrow(
      /no rollout found/,
    );
  });
});
