// CodexAppServerRunner's people-facing side on the real `codex app-server` (mock model, offline):
// server requests become `approval` / `question` events and calls to the run's RunInteractions, a run
// without interactions is never asked, a stopped run ends what waits on a person, `steer` reaches the
// running turn, and two runs on one session take turns. One app-server for the file; each test gets a
// fresh runner on it (the newest runner owns the server's request handler).
//
// Thread config as in codex-app-server-requests.test.ts: /tmp and $TMPDIR are not writable roots, so a
// fresh temp dir is "outside" the workspace-write sandbox; request_user_input is allowed outside Plan mode.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppServerNotification } from '../../src/agents/codex-app-server/protocol.js';
import { CodexAppServerRunner } from '../../src/agents/codex-app-server/runner.js';
import {
  type AgentEvent,
  type ApprovalRequest,
  type ApprovalVerdict,
  type QuestionAnswers,
  type QuestionRequest,
  type RunInteractions,
  type RunRequest,
  RunStopped,
} from '../../src/agents/types.js';
import { type AppServerFixture, runRequest, startAppServer } from '../support/codex-app-server-harness.js';
import { type MockModel, startMockModel } from '../support/mock-model/index.js';

/** After turn/interrupt, how long the runner waits for turn/completed. */
const INTERRUPT_GRACE_MS = 1_500;
const JUSTIFICATION = 'The task needs this to run outside the sandbox';

interface Timed {
  event: AgentEvent;
  /** Epoch ms when the run yielded it (comparable with the mock's `request.at`). */
  at: number;
}

type ApprovalEvent = Extract<AgentEvent, { type: 'approval' }>;
type QuestionEvent = Extract<AgentEvent, { type: 'question' }>;

/** A RunInteractions whose answers the test decides; every call is recorded with its signal. */
interface TestInteractions extends RunInteractions {
  approvals: { request: ApprovalRequest; signal: AbortSignal }[];
  questions: { question: QuestionRequest; signal: AbortSignal }[];
}

function interactionsWith(
  handlers: {
    approve?: (request: ApprovalRequest, signal: AbortSignal) => ApprovalVerdict | Promise<ApprovalVerdict>;
    ask?: (
      question: QuestionRequest,
      signal: AbortSignal,
    ) => QuestionAnswers | undefined | Promise<QuestionAnswers | undefined>;
  } = {},
): TestInteractions {
  const approvals: TestInteractions['approvals'] = [];
  const questions: TestInteractions['questions'] = [];
  return {
    approvals,
    questions,
    async approve(request, signal) {
      approvals.push({ request, signal });
      if (!handlers.approve) throw new Error('unexpected approval request');
      return handlers.approve(request, signal);
    },
    async ask(question, signal) {
      questions.push({ question, signal });
      if (!handlers.ask) throw new Error('unexpected question');
      return handlers.ask(question, signal);
    },
  };
}

/** A promise with its resolver outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('CodexAppServerRunner approvals, questions, steer and turn order on the real codex app-server', () => {
  let mock: MockModel;
  let app: AppServerFixture;
  let workspace: string;
  let outside: string;
  let runner: CodexAppServerRunner;
  /** Every notification of the server since the test began. */
  let notifications: AppServerNotification[];

  beforeAll(async () => {
    mock = await startMockModel();
    app = await startAppServer(mock, {
      config: {
        sandbox_workspace_write: { exclude_slash_tmp: true, exclude_tmpdir_env_var: true },
        features: { default_mode_request_user_input: true },
        // Else codex's `warning` "Under-development features enabled: …" lands as a notice in most new threads.
        suppress_unstable_features_warning: true,
      },
    });
    workspace = app.workspace;
    outside = await realpath(await mkdtemp(join(tmpdir(), 'larkcode-outside-')));
    app.server.onNotification((notification) => notifications.push(notification));
  });

  afterAll(async () => {
    await app?.close();
    await mock?.close();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  beforeEach(() => {
    mock.reset();
    notifications = [];
    runner = new CodexAppServerRunner({ server: app.server, interruptGraceMs: INTERRUPT_GRACE_MS });
  });

  const request = (prompt: string, sessionId?: string) =>
    runRequest(prompt, { workspace, scopeId: 'chat:interactions', sessionId });

  async function run(
    req: RunRequest,
    opts: {
      interactions?: RunInteractions;
      signal?: AbortSignal;
      onEvent?: (event: AgentEvent) => void;
      on?: CodexAppServerRunner;
    } = {},
  ): Promise<Timed[]> {
    const events: Timed[] = [];
    const signal = opts.signal ?? AbortSignal.timeout(20_000);
    const target = opts.on ?? runner;
    const iterable = opts.interactions ? target.run(req, signal, opts.interactions) : target.run(req, signal);
    for await (const event of iterable) {
      events.push({ event, at: Date.now() });
      opts.onEvent?.(event);
    }
    return events;
  }

  const only = (timed: Timed[]) => timed.map((t) => t.event);
  const done = (timed: Timed[]) => timed.at(-1)!.event as Extract<AgentEvent, { type: 'done' }>;
  const doneAt = (timed: Timed[]) => {
    expect(timed.at(-1)!.event.type).toBe('done');
    return timed.at(-1)!.at;
  };
  const approvalsOf = (timed: Timed[]) =>
    only(timed).filter((e): e is ApprovalEvent => e.type === 'approval');
  const questionsOf = (timed: Timed[]) =>
    only(timed).filter((e): e is QuestionEvent => e.type === 'question');
  const noticesOf = (timed: Timed[]) => only(timed).flatMap((e) => (e.type === 'notice' ? [e.message] : []));
  const finalText = (timed: Timed[]) =>
    only(timed)
      .filter((e) => e.type === 'text' && e.mode === 'whole')
      .map((e) => (e as { text: string }).text)
      .at(-1);
  const sessionOf = (timed: Timed[]) =>
    only(timed).find((e): e is Extract<AgentEvent, { type: 'session' }> => e.type === 'session')!.sessionId;
  const lastToolOutput = () => mock.requests.at(-1)!.toolOutputs.at(-1)!;

  describe('approvals', () => {
    it('an escalated command is shown pending, waits for the verdict, and runs outside the sandbox once approved', async () => {
      const file = join(outside, 'approved.txt');
      // The verdict comes only after the consumer saw the pending event: the card is up while codex waits.
      const shown = deferred();
      const people = interactionsWith({
        approve: async () => {
          await shown.promise;
          return { decision: 'approve', note: 'approved by test', by: 'ou_test' };
        },
      });
      const timed = await run(request(`[[escalate: echo hi > ${file}]]`), {
        interactions: people,
        onEvent: (event) => {
          if (event.type === 'approval' && event.status === 'pending') shown.resolve();
        },
      });

      const approvals = approvalsOf(timed);
      expect(approvals.map((a) => a.status)).toEqual(['pending', 'approved']);
      const asked = approvals[0]!.request;
      expect(asked).toMatchObject({
        kind: 'command',
        cwd: workspace,
        reason: JUSTIFICATION,
        network: false,
        outsideSandbox: true,
      });
      expect(asked.id).toMatch(/^call_/);
      expect(asked.command).toContain(`echo hi > ${file}`);
      expect(approvals[1]).toEqual({
        type: 'approval',
        request: asked,
        status: 'approved',
        note: 'approved by test',
      });
      expect(people.approvals).toHaveLength(1);
      expect(people.approvals[0]!.request).toEqual(asked);
      expect(people.approvals[0]!.signal.aborted).toBe(true); // the run is over: nothing waits any more

      // The command item comes and goes around the approval, completing after it.
      const events = only(timed);
      const index = (pred: (e: AgentEvent) => boolean) => events.findIndex(pred);
      expect(index((e) => e.type === 'approval' && e.status === 'approved')).toBeLessThan(
        index((e) => e.type === 'tool' && e.tool.id === asked.id && e.tool.status === 'completed'),
      );
      expect(await readFile(file, 'utf8')).toBe('hi\n');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
      expect(finalText(timed)).toBe('done');
    });

    it('denied, the command does not run and the model hears it was rejected by the user', async () => {
      const file = join(outside, 'denied.txt');
      const people = interactionsWith({ approve: () => ({ decision: 'deny', note: 'denied by test' }) });
      const timed = await run(request(`[[escalate: echo hi > ${file}]]`), { interactions: people });

      const approvals = approvalsOf(timed);
      expect(approvals.map((a) => a.status)).toEqual(['pending', 'denied']);
      expect(approvals[1]!.note).toBe('denied by test');
      expect(existsSync(file)).toBe(false);
      const output = lastToolOutput();
      expect(output).toMatchObject({ callId: approvals[0]!.request.id, name: 'exec_command' });
      expect(output.output).toContain('rejected by user');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
      expect(finalText(timed)).toMatch(/^not allowed: /);
    });

    it('a patch outside the writable roots asks as a file change, with the paths from item/started', async () => {
      const file = join(outside, 'p.txt');
      const people = interactionsWith({ approve: () => ({ decision: 'approve', note: 'ok' }) });
      const timed = await run(request(`[[patch-outside: ${file}]]`), { interactions: people });

      const approvals = approvalsOf(timed);
      expect(approvals.map((a) => a.status)).toEqual(['pending', 'approved']);
      expect(approvals[0]!.request).toEqual({
        id: expect.stringMatching(/^call_/),
        kind: 'file_change',
        changes: [{ path: file, change: 'add' }],
        cwd: workspace,
        network: false,
        outsideSandbox: false, // codex sends grantRoot: null; the path itself tells it is outside
      });
      expect(await readFile(file, 'utf8')).toBe('patched outside\n');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    });

    it('without interactions nobody is asked (approvalPolicy never): the command stays in the sandbox', async () => {
      const file = join(outside, 'never-asked.txt');
      const timed = await run(request(`[[escalate: echo hi > ${file}]]`));

      expect(approvalsOf(timed)).toEqual([]);
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
      expect(existsSync(file)).toBe(false);
      // codex sent no server request at all (an answered one is followed by serverRequest/resolved).
      expect(notifications.map((n) => n.method)).not.toContain('serverRequest/resolved');
      expect(notifications.some((n) => JSON.stringify(n.params).includes('waitingOnApproval'))).toBe(false);
      // codex refuses the escalation itself; no command item is started.
      expect(lastToolOutput()).toMatchObject({ name: 'exec_command' });
      expect(lastToolOutput().output).toContain('approval policy is Never');
      expect(only(timed).filter((e) => e.type === 'tool')).toEqual([]);
    });

    it('the approval policy follows each run, not the thread it resumes', async () => {
      const quiet = await run(request('[[reply: hi]] no one to ask here'));
      const sessionId = sessionOf(quiet);

      // Created with approvalPolicy never; this run has people to ask, so codex must ask.
      const asked = join(outside, 'policy-asked.txt');
      const people = interactionsWith({ approve: () => ({ decision: 'approve', note: 'ok' }) });
      const withPeople = await run(request(`[[escalate: echo hi > ${asked}]]`, sessionId), {
        interactions: people,
      });
      expect(approvalsOf(withPeople).map((a) => a.status)).toEqual(['pending', 'approved']);
      expect(existsSync(asked)).toBe(true);

      // The loaded thread is now on-request; a run without people sets it back to never.
      const unasked = join(outside, 'policy-unasked.txt');
      notifications = [];
      const withoutPeople = await run(request(`[[escalate: echo hi > ${unasked}]]`, sessionId));
      expect(approvalsOf(withoutPeople)).toEqual([]);
      expect(notifications.map((n) => n.method)).not.toContain('serverRequest/resolved');
      expect(lastToolOutput().output).toContain('approval policy is Never');
      expect(existsSync(unasked)).toBe(false);
      for (const timed of [quiet, withPeople, withoutPeople]) {
        expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
        expect(sessionOf(timed)).toBe(sessionId);
      }
    });

    it('when approve throws, the request is denied with the reason', async () => {
      const file = join(outside, 'could-not-ask.txt');
      const people = interactionsWith({
        approve: () => {
          throw new Error('card service down');
        },
      });
      const timed = await run(request(`[[escalate: echo hi > ${file}]]`), { interactions: people });

      const approvals = approvalsOf(timed);
      expect(approvals.map((a) => a.status)).toEqual(['pending', 'denied']);
      expect(approvals[1]!.note).toBe('could not ask: card service down');
      expect(existsSync(file)).toBe(false);
      expect(lastToolOutput().output).toContain('rejected by user');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    });

    it('stopping the run while an approval is pending ends it interrupted and aborts the signal approve got', async () => {
      const file = join(outside, 'stopped.txt');
      const stop = new AbortController();
      let stoppedAt = 0;
      const people = interactionsWith({
        // Like the broker: waits for a person until the run's signal says nobody needs the answer.
        approve: (_request, signal) =>
          new Promise((resolve) =>
            signal.addEventListener('abort', () => resolve({ decision: 'deny', note: 'run stopped' }), {
              once: true,
            }),
          ),
      });
      const timed = await run(request(`[[escalate: echo hi > ${file}]]`), {
        interactions: people,
        signal: stop.signal,
        onEvent: (event) => {
          if (event.type === 'approval' && event.status === 'pending') {
            stoppedAt = Date.now();
            stop.abort(new RunStopped('interrupted'));
          }
        },
      });
      const stoppedMs = doneAt(timed) - stoppedAt;

      expect(done(timed)).toEqual({ type: 'done', outcome: 'interrupted' });
      expect(stoppedMs).toBeLessThan(INTERRUPT_GRACE_MS + 500);
      expect(people.approvals).toHaveLength(1);
      expect(people.approvals[0]!.signal.aborted).toBe(true);
      expect(existsSync(file)).toBe(false);

      // The thread is not stuck on the abandoned request: its next turn runs normally.
      const next = await run(request('[[reply: still here]] hello?', sessionOf(timed)), {
        interactions: interactionsWith(),
      });
      expect(done(next)).toEqual({ type: 'done', outcome: 'completed' });
      expect(finalText(next)).toBe('still here');
      expect(existsSync(file)).toBe(false);
      console.info(`[interactions] abort with approval pending → done ${stoppedMs} ms`);
    });
  });

  describe('questions', () => {
    it('a question is shown pending, then answered, and the model gets the answer', async () => {
      const people = interactionsWith({ ask: () => ({ q1: ['B'] }) });
      const timed = await run(request('[[ask: Pick one | A | B]]'), { interactions: people });

      const questions = questionsOf(timed);
      expect(questions.map((q) => q.status)).toEqual(['pending', 'answered']);
      expect(questions[0]!.question).toEqual({
        id: expect.stringMatching(/^call_/),
        questions: [
          {
            id: 'q1',
            header: 'Question',
            question: 'Pick one',
            options: [{ label: 'A' }, { label: 'B' }],
            allowOther: true,
          },
        ],
      });
      expect(questions[1]).toEqual({
        type: 'question',
        question: questions[0]!.question,
        status: 'answered',
        answers: { q1: ['B'] },
      });
      expect(people.questions.map((q) => q.question)).toEqual([questions[0]!.question]);
      expect(lastToolOutput().output).toBe('{"answers":{"q1":{"answers":["B"]}}}');
      expect(finalText(timed)).toBe('you chose: B');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    });

    it('unanswered, the question expires and the model is told nobody answered', async () => {
      const people = interactionsWith({ ask: () => undefined });
      const timed = await run(request('[[ask: Pick one | A | B]]'), { interactions: people });

      const questions = questionsOf(timed);
      expect(questions.map((q) => q.status)).toEqual(['pending', 'expired']);
      expect(questions[1]).not.toHaveProperty('answers');
      expect(lastToolOutput().output).toContain('Nobody answered in time');
      expect(finalText(timed)).toBe('you chose: Nobody answered in time: decide on your own.');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    });

    it('past maxQuestionsPerTurn nobody is asked: a notice, and the model decides alone', async () => {
      const capped = new CodexAppServerRunner({ server: app.server, maxQuestionsPerTurn: 0 });
      const people = interactionsWith({ ask: () => ({ q1: ['A'] }) });
      const timed = await run(request('[[ask: Pick one | A | B]]'), { interactions: people, on: capped });

      expect(questionsOf(timed)).toEqual([]);
      expect(people.questions).toEqual([]);
      expect(noticesOf(timed)).toEqual([
        'the agent asked more than 0 questions in this turn; it was told to decide on its own',
      ]);
      expect(lastToolOutput().output).toContain('No more questions in this turn');
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
    });
  });

  describe('steer', () => {
    it('reaches the running turn; false once the run ended or for an unknown run', async () => {
      const req = request('[[slow:3000]] name a fruit');
      const running = run(req);
      await mock.waitForRequests(1);
      const steeredAt = Date.now();
      expect(await runner.steer(req.runId, 'also say pineapple')).toBe(true);
      const timed = await running;

      const steeredRequest = mock.requests.find((r) => r.lastUserText?.includes('pineapple'));
      expect(steeredRequest).toBeDefined();
      expect(steeredRequest!.at).toBeGreaterThanOrEqual(steeredAt);
      expect(steeredRequest!.at).toBeLessThanOrEqual(doneAt(timed));
      // The same turn went on with it: one run, one turn, the steer's answer last.
      expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
      expect(finalText(timed)).toBe('ok: also say pineapple');
      expect(steeredRequest!.allUserTexts).toEqual([req.prompt, 'also say pineapple']);

      expect(await runner.steer(req.runId, 'too late')).toBe(false);
      expect(await runner.steer('run-unknown', 'anyone?')).toBe(false);
      console.info(
        `[interactions] steer: ${mock.requests.length} model requests, run took ${doneAt(timed) - timed[0]!.at} ms after its first event`,
      );
    });
  });

  describe('one turn at a time per session', () => {
    it('a second run on a busy session waits for the first to finish, then takes its own turn', async () => {
      const base = await run(request('[[reply: base]] start the session'));
      const sessionId = sessionOf(base);
      mock.reset();

      const first = request('[[slow:1000]] first of two', sessionId);
      const second = request('[[slow:1000]] second of two', sessionId);
      const [a, b] = await Promise.all([run(first), run(second)]);

      expect(noticesOf(a)).toEqual([]);
      expect(only(b)[0]).toEqual({
        type: 'notice',
        message: 'waiting for another run on this session to finish',
      });
      expect(b[0]!.at).toBeLessThan(doneAt(a));
      for (const timed of [a, b]) {
        expect(done(timed)).toEqual({ type: 'done', outcome: 'completed' });
        expect(sessionOf(timed)).toBe(sessionId);
      }
      // The second turn started only after the first was done: its session event and model request.
      const sessionEventAt = b.find((t) => t.event.type === 'session')!.at;
      expect(sessionEventAt).toBeGreaterThanOrEqual(doneAt(a));
      expect(mock.requests.map((r) => r.lastUserText)).toEqual([first.prompt, second.prompt]);
      expect(mock.requests[1]!.at).toBeGreaterThanOrEqual(doneAt(a));

      // Two turns, not one turn with the second prompt steered into it.
      expect(finalText(a)).toBe(`ok: ${first.prompt}`);
      expect(finalText(a)).not.toContain('second of two');
      expect(finalText(b)).toBe(`ok: ${second.prompt}`);
      expect(mock.requests[1]!.allUserTexts).toEqual([
        '[[reply: base]] start the session',
        first.prompt,
        second.prompt,
      ]);
      console.info(
        `[interactions] serialised: first done after ${doneAt(a) - a[0]!.at} ms, second after ${doneAt(b) - b[0]!.at} ms`,
      );
    });

    it('a run stopped while it waits for the session ends at once, without a turn; the first goes on', async () => {
      const base = await run(request('[[reply: base]] start the session'));
      const sessionId = sessionOf(base);
      mock.reset();

      const first = request('[[slow:1000]] keep going', sessionId);
      const stop = new AbortController();
      let stoppedAt = 0;
      const [a, b] = await Promise.all([
        run(first),
        run(request('[[reply: never]] not my turn', sessionId), {
          signal: stop.signal,
          onEvent: (event) => {
            if (event.type === 'notice') {
              stoppedAt = Date.now();
              stop.abort(new RunStopped('interrupted'));
            }
          },
        }),
      ]);

      expect(only(b)).toEqual([
        { type: 'notice', message: 'waiting for another run on this session to finish' },
        { type: 'done', outcome: 'interrupted' },
      ]);
      expect(doneAt(b) - stoppedAt).toBeLessThan(100);
      expect(doneAt(b)).toBeLessThan(doneAt(a));
      expect(done(a)).toEqual({ type: 'done', outcome: 'completed' });
      expect(finalText(a)).toBe(`ok: ${first.prompt}`);
      expect(mock.requests.map((r) => r.lastUserText)).toEqual([first.prompt]);

      // The session is free again at once: a run started right after does not announce a wait.
      const next = await run(request('[[reply: free]] my turn now', sessionId));
      expect(noticesOf(next)).toEqual([]);
      expect(finalText(next)).toBe('free');
    });
  });
});
