// Server requests on the real `codex app-server` (mock model, offline) through CodexAppServer:
// command approval (`[[escalate: CMD]]`), file-change approval (`[[patch-outside: PATH]]`) and a
// question (`[[ask: Q | A | B]]`), each answered and followed to the end of the turn. Thread:
// approvalPolicy `on-request`, sandbox `workspace-write`, with the temp dirs taken out of the
// writable roots (`exclude_slash_tmp`, `exclude_tmpdir_env_var`) so a fresh temp dir is "outside";
// `features.default_mode_request_user_input = true` lets the model ask outside Plan mode.
//
// Observed with codex 0.163.0 (ids shortened; answer with `{id, result}` — CodexAppServer sends
// whatever the `onServerRequest` / `setServerRequestHandler` handler resolves as the result):
//
// item/commandExecution/requestApproval — after `item/started` {type:"commandExecution", id:"call_2",
//   command, cwd, processId:null, source:"agent", status:"inProgress", commandActions, …} and
//   `thread/status/changed` {type:"active", activeFlags:["waitingOnApproval"]}:
//   {"kind":"command","threadId":"T","turnId":"U","itemId":"call_2","startedAtMs":1795341028303,
//    "environmentId":"local","reason":"The task needs this to run outside the sandbox",
//    "command":"/bin/bash -lc 'echo hi > /tmp/larkcode-outside-X/x.txt'","cwd":"/tmp/larkcode-workspace-Y",
//    "commandActions":[{"type":"unknown","command":"echo hi > /tmp/larkcode-outside-X/x.txt"}],
//    "proposedExecpolicyAmendment":["/bin/bash","-lc","echo hi > /tmp/larkcode-outside-X/x.txt"],
//    "availableDecisions":["accept",{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["/bin/bash","-lc","echo hi > …"]}},"cancel"]}
//   result {"decision":"accept"|"acceptForSession"|"decline"|"cancel"} (decline works although not listed).
//   accept → item/completed status "completed", exitCode 0; decline → item/completed status "declined"
//   and the model gets `exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }`;
//   cancel → no further model request, turn/completed status "interrupted".
//
// item/fileChange/requestApproval — carries no diff; the `item/started` with the same itemId comes
//   just before it: {type:"fileChange", id:"call_12", changes:[{"path":"/tmp/larkcode-outside-X/p.txt",
//   "kind":{"type":"add"},"diff":"patched outside\n"}], status:"inProgress"}:
//   {"threadId":"T","turnId":"U","itemId":"call_12","startedAtMs":1795341028846,"reason":null,"grantRoot":null}
//   result {"decision":"accept"|"acceptForSession"|"decline"|"cancel"}. decline → item status "declined",
//   the model gets `patch rejected by user`.
//
// item/tool/requestUserInput — no item events; `thread/status/changed` activeFlags ["waitingOnUserInput"]:
//   {"threadId":"T","turnId":"U","itemId":"call_22","questions":[{"id":"q1","header":"Question",
//    "question":"Which db?","isOther":true,"isSecret":false,"options":[{"label":"Postgres","description":""},
//    {"label":"SQLite","description":""}]}],"isBlocking":false,"autoResolutionMs":null}
//   result {"answers":{"q1":{"answers":["SQLite"]}}}; the model gets that JSON as the tool output.
//
// Every answered request is followed by `serverRequest/resolved` {"threadId":"T","requestId":<id>}.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  AppServerNotification,
  CommandExecutionRequestApprovalParams,
  FileChangeRequestApprovalParams,
  ThreadItem,
  ToolRequestUserInputParams,
} from '../../src/agents/codex-app-server/protocol.js';
import type { RpcId } from '../../src/agents/codex-app-server/rpc.js';
import type { CodexAppServer } from '../../src/agents/codex-app-server/server.js';
import {
  type AppServerFixture,
  runTurn,
  startAppServer,
  startThread,
} from '../support/codex-app-server-harness.js';
import { type MockModel, startMockModel } from '../support/mock-model/index.js';

interface SeenRequest {
  method: string;
  params: unknown;
  id: RpcId;
}

describe('server requests on the real codex app-server', () => {
  let mock: MockModel;
  let app: AppServerFixture;
  let server: CodexAppServer;
  let outside: string;
  let threadId: string;
  let seen: SeenRequest[];
  /** Item starts and server requests in the order a client sees them (what a runner can rely on). */
  let arrivals: string[];
  let answer: (request: SeenRequest) => unknown;

  beforeAll(async () => {
    mock = await startMockModel();
    app = await startAppServer(mock, {
      config: {
        // Otherwise /tmp and $TMPDIR are writable roots and nothing under them needs approval.
        sandbox_workspace_write: { exclude_slash_tmp: true, exclude_tmpdir_env_var: true },
        features: { default_mode_request_user_input: true },
      },
    });
    server = app.server;
    server.setServerRequestHandler((method, params, id) => {
      const request = { method, params, id };
      seen.push(request);
      arrivals.push(`request ${(params as { itemId?: string }).itemId}`);
      return answer(request);
    });
    server.onNotification(({ method, params }) => {
      if (method === 'item/started') arrivals.push(`started ${(params as { item: ThreadItem }).item.id}`);
    });
    outside = await realpath(await mkdtemp(join(tmpdir(), 'larkcode-outside-')));
    // One thread for all: each test's turn is a turn of its own on it.
    const { thread } = await startThread(server, app.workspace, { approvalPolicy: 'on-request' });
    threadId = thread.id;
  });

  afterAll(async () => {
    await app?.close();
    await mock?.close();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  beforeEach(() => {
    mock.reset();
    seen = [];
    arrivals = [];
    answer = () => {
      throw new Error('unexpected server request');
    };
  });

  const params = (n: AppServerNotification) => n.params as Record<string, unknown>;
  const startedItem = (notifications: AppServerNotification[], itemId: string): ThreadItem | undefined =>
    notifications
      .filter((n) => n.method === 'item/started')
      .map((n) => params(n).item as ThreadItem)
      .find((item) => item.id === itemId);
  const completedItem = (notifications: AppServerNotification[], itemId: string): ThreadItem | undefined =>
    notifications
      .filter((n) => n.method === 'item/completed')
      .map((n) => params(n).item as ThreadItem)
      .find((item) => item.id === itemId);
  const resolved = (notifications: AppServerNotification[]) =>
    notifications.filter((n) => n.method === 'serverRequest/resolved').map((n) => params(n).requestId);

  it('asks before an escalated command; accept runs it outside the sandbox', async () => {
    answer = () => ({ decision: 'accept' });
    const file = join(outside, 'accepted.txt');
    const { turn, finalText, notifications } = await runTurn(
      server,
      threadId,
      `[[escalate: echo hi > ${file}]]`,
    );

    expect(seen.map((r) => r.method)).toEqual(['item/commandExecution/requestApproval']);
    const request = seen[0]!.params as CommandExecutionRequestApprovalParams;
    expect(request).toMatchObject({
      kind: 'command',
      threadId,
      turnId: turn.id,
      environmentId: 'local',
      reason: 'The task needs this to run outside the sandbox',
      command: `/bin/bash -lc 'echo hi > ${file}'`,
      cwd: app.workspace,
      commandActions: [{ type: 'unknown', command: `echo hi > ${file}` }],
      proposedExecpolicyAmendment: ['/bin/bash', '-lc', `echo hi > ${file}`],
    });
    expect(request.itemId).toMatch(/^call_/);
    expect(request.startedAtMs).toBeTypeOf('number');
    expect(request.availableDecisions).toContain('accept');
    // The command item is announced before the request, under the same id.
    expect(arrivals.indexOf(`started ${request.itemId}`)).toBeLessThan(
      arrivals.indexOf(`request ${request.itemId}`),
    );
    expect(startedItem(notifications, request.itemId)).toMatchObject({
      type: 'commandExecution',
      status: 'inProgress',
      command: request.command,
    });
    expect(completedItem(notifications, request.itemId)).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(resolved(notifications)).toEqual([seen[0]!.id]);

    expect(await readFile(file, 'utf8')).toBe('hi\n');
    expect(turn.status).toBe('completed');
    expect(finalText).toBe('done');
  });

  it('declined, the command does not run and the model hears it was rejected', async () => {
    answer = () => ({ decision: 'decline' });
    const file = join(outside, 'declined.txt');
    const { turn, finalText, notifications } = await runTurn(
      server,
      threadId,
      `[[escalate: echo hi > ${file}]]`,
    );

    expect(seen.map((r) => r.method)).toEqual(['item/commandExecution/requestApproval']);
    const { itemId } = seen[0]!.params as CommandExecutionRequestApprovalParams;
    expect(completedItem(notifications, itemId)).toMatchObject({
      type: 'commandExecution',
      status: 'declined',
    });
    expect(existsSync(file)).toBe(false);

    const output = mock.requests.at(-1)!.toolOutputs.at(-1)!;
    expect(output).toMatchObject({ callId: itemId, name: 'exec_command' });
    expect(output.output).toContain('rejected by user');
    expect(turn.status).toBe('completed');
    expect(finalText).toBe(`not allowed: ${output.output.slice(0, 120)}`);
  });

  it('cancelled, the turn ends interrupted without asking the model again', async () => {
    answer = () => ({ decision: 'cancel' });
    const file = join(outside, 'cancelled.txt');
    const { turn } = await runTurn(server, threadId, `[[escalate: echo hi > ${file}]]`);

    expect(turn.status).toBe('interrupted');
    expect(existsSync(file)).toBe(false);
    expect(mock.requests).toHaveLength(1);
  });

  it('asks before a patch outside the writable roots; the changes come from item/started', async () => {
    answer = () => ({ decision: 'accept' });
    const file = join(outside, 'patched.txt');
    const { turn, finalText, notifications } = await runTurn(server, threadId, `[[patch-outside: ${file}]]`);

    expect(seen.map((r) => r.method)).toEqual(['item/fileChange/requestApproval']);
    const request = seen[0]!.params as FileChangeRequestApprovalParams;
    expect(request).toEqual({
      threadId,
      turnId: turn.id,
      itemId: expect.stringMatching(/^call_/),
      startedAtMs: expect.any(Number),
      reason: null,
      grantRoot: null,
    });
    expect(startedItem(notifications, request.itemId)).toEqual({
      type: 'fileChange',
      id: request.itemId,
      changes: [{ path: file, kind: { type: 'add' }, diff: 'patched outside\n' }],
      status: 'inProgress',
    });
    // So a client can show the diff when the request arrives.
    expect(arrivals.indexOf(`started ${request.itemId}`)).toBeGreaterThanOrEqual(0);
    expect(arrivals.indexOf(`started ${request.itemId}`)).toBeLessThan(
      arrivals.indexOf(`request ${request.itemId}`),
    );

    expect(completedItem(notifications, request.itemId)).toMatchObject({ status: 'completed' });
    expect(await readFile(file, 'utf8')).toBe('patched outside\n');
    expect(finalText).toBe('done');
  });

  it('a declined patch leaves no file; the model gets `patch rejected by user`', async () => {
    answer = () => ({ decision: 'decline' });
    const file = join(outside, 'refused.txt');
    const { finalText, notifications } = await runTurn(server, threadId, `[[patch-outside: ${file}]]`);

    const { itemId } = seen[0]!.params as FileChangeRequestApprovalParams;
    expect(completedItem(notifications, itemId)).toMatchObject({ type: 'fileChange', status: 'declined' });
    expect(existsSync(file)).toBe(false);
    expect(mock.requests.at(-1)!.toolOutputs.at(-1)).toMatchObject({
      callId: itemId,
      name: 'apply_patch',
      output: 'patch rejected by user',
    });
    expect(finalText).toBe('not allowed: patch rejected by user');
  });

  it('puts a question to the user and passes the answer back to the model', async () => {
    answer = () => ({ answers: { q1: { answers: ['SQLite'] } } });
    const { turn, finalText, notifications } = await runTurn(
      server,
      threadId,
      '[[ask: Which db? | Postgres | SQLite]]',
    );

    expect(seen.map((r) => r.method)).toEqual(['item/tool/requestUserInput']);
    const request = seen[0]!.params as ToolRequestUserInputParams;
    expect(request).toEqual({
      threadId,
      turnId: turn.id,
      itemId: expect.stringMatching(/^call_/),
      questions: [
        {
          id: 'q1',
          header: 'Question',
          question: 'Which db?',
          isOther: true,
          isSecret: false,
          options: [
            { label: 'Postgres', description: '' },
            { label: 'SQLite', description: '' },
          ],
        },
      ],
      isBlocking: false,
      autoResolutionMs: null,
    });
    // No item of its own: only the user message and the answer.
    expect(
      notifications
        .filter((n) => n.method === 'item/started')
        .map((n) => (params(n).item as ThreadItem).type),
    ).toEqual(['userMessage', 'agentMessage']);
    expect(
      notifications.some(
        (n) =>
          n.method === 'thread/status/changed' &&
          JSON.stringify(params(n).status) === '{"type":"active","activeFlags":["waitingOnUserInput"]}',
      ),
    ).toBe(true);
    expect(mock.requests.at(-1)!.toolOutputs.at(-1)).toEqual({
      callId: request.itemId,
      name: 'request_user_input',
      output: '{"answers":{"q1":{"answers":["SQLite"]}}}',
    });
    expect(finalText).toBe('you chose: SQLite');
  });
});
