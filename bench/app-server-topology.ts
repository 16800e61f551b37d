// `npm run bench:topology`: one `codex app-server` per profile shared by every scope (what larkcode
// runs: one CodexAppServerRunner, one CodexAppServer) against one app-server per scope, with the real
// codex binary against the mock model.
//
// For N concurrent scopes (each its own thread: its own scopeId, and the sessionId codex gave its
// first turn), every scope runs ANSWER_TURNS streamed answers (DELTAS deltas, DELAY_MS apart) and
// one turn that runs `echo hi` (the mock's `[[shell: …]]` marker), one turn after another; the
// scopes run at once. Measured: spawn → `initialize` answered per process (all started at once, as
// after a restart with every scope busy); summed VmRSS of the codex processes of the topology's
// CODEX_HOME after start and at the end; turn/start → turn/completed and → first
// `item/agentMessage/delta`; wall time of all turns; CPU seconds of the codex processes.
// Prints a markdown table; writes nothing but temp dirs (removed at the end).
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CodexAppServerRunner } from '../src/agents/codex-app-server/runner.js';
import { codexProcesses } from '../src/agents/codex-sdk/reap-orphans.js';
import type { AgentEvent, RunRequest } from '../src/agents/types.js';
import { codexProviderConfig } from '../src/playground/mock-model/codex-provider.js';
import {
  fallbackTurn,
  type MockModel,
  type RecordedRequest,
  reply,
  type ScriptedTurn,
  startMockModel,
} from '../src/playground/mock-model/index.js';
import { fmtMiB, fmtMs, machineCpu, percentile, procStatusKiB, waitForQuietMachine } from './lib.js';

const SCOPE_COUNTS = [1, 4, 8] as const;
const ANSWER_TURNS = 3;
/** Which turn of each scope (0-based) is the shell turn. */
const SHELL_TURN = 1;
const DELTAS = 5;
const DELAY_MS = 30;
const TURN_TIMEOUT_MS = 60_000;
const ROUNDS = 4;

type Topology = 'shared' | 'per-scope';

interface Mark {
  start: number;
  firstDelta?: number;
  completed?: number;
}

interface Result {
  topology: Topology;
  scopes: number;
  processes: number;
  coldStartMs: number[];
  rssAfterStartKiB: number;
  rssEndKiB: number;
  answerTurnMs: number[];
  firstDeltaMs: number[];
  shellTurnMs: number[];
  wallMs: number;
  codexCpuSeconds: number;
  /** Cores used by everything else on the machine during the turns. */
  otherCores: number;
  failures: string[];
}

/** Live processes named codex* with this CODEX_HOME in their environment. */
function codexProcessesFor(codexHome: string): number[] {
  return codexProcesses(codexHome).map((process) => process.pid);
}

/**
 * CPU seconds of a process and its children it has waited for (utime + stime + cutime + cstime):
 * codex runs a login shell per thread to snapshot the environment, and each command in a shell.
 */
function cpuWithChildren(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((total, i) => total + Number(fields[i]), 0) / 100;
  } catch {
    return Number.NaN;
  }
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Every model request: a streamed answer, or the fallback's shell turn for `[[shell: …]]` prompts. */
function answer(req: RecordedRequest): ScriptedTurn {
  if ((req.lastUserText ?? '').includes('[[shell:')) return fallbackTurn(req);
  const text = Array.from({ length: DELTAS }, (_, i) => `part ${i} of a streamed answer.`).join(' ');
  return reply.message(text, { deltas: DELTAS, delayMsBetweenDeltas: DELAY_MS });
}

async function measure(topology: Topology, scopes: number, mock: MockModel): Promise<Result> {
  mock.reset();
  // One function per request, whatever the order in which the scopes' requests arrive.
  mock.enqueue(...Array.from({ length: scopes * (ANSWER_TURNS + 3) }, () => answer));
  const root = await mkdtemp(join(tmpdir(), `larkcode-bench-topology-${topology}-`));
  const codexHome = join(root, 'codex-home');
  await mkdir(codexHome);
  const workspaces = Array.from({ length: scopes }, (_, i) => join(root, `ws-${i}`));
  await Promise.all(workspaces.map((ws) => mkdir(ws)));

  // Like the daemon: one CODEX_HOME per profile, whatever the number of processes on it.
  const processes = topology === 'shared' ? 1 : scopes;
  const runners = Array.from(
    { length: processes },
    () =>
      new CodexAppServerRunner({
        codexHome,
        config: codexProviderConfig(mock.baseUrl),
        apiKey: 'sk-bench',
      }),
  );
  const marks = new Map<string, Mark>();
  for (const runner of runners) {
    const server = runner.server;
    const startTurn = server.startTurn.bind(server);
    server.startTurn = (params) => {
      marks.set(params.threadId, { start: performance.now() });
      return startTurn(params);
    };
    server.onNotification(({ method, params }) => {
      const threadId = (params as { threadId?: unknown }).threadId;
      const mark = typeof threadId === 'string' ? marks.get(threadId) : undefined;
      if (!mark) return;
      if (method === 'item/agentMessage/delta') mark.firstDelta ??= performance.now();
      else if (method === 'turn/completed') mark.completed ??= performance.now();
    });
  }

  const result: Result = {
    topology,
    scopes,
    processes,
    coldStartMs: [],
    rssAfterStartKiB: Number.NaN,
    rssEndKiB: Number.NaN,
    answerTurnMs: [],
    firstDeltaMs: [],
    shellTurnMs: [],
    wallMs: Number.NaN,
    codexCpuSeconds: Number.NaN,
    otherCores: Number.NaN,
    failures: [],
  };
  const rss = () => sum(codexProcessesFor(codexHome).map((p) => procStatusKiB(p, 'VmRSS')));

  try {
    // A profile's home outlives restarts. On a fresh one, processes starting at once race creating
    // codex's sqlite state and all but one exit ("failed to initialize sqlite state runtime").
    const first = new CodexAppServerRunner({ codexHome, config: codexProviderConfig(mock.baseUrl) });
    await first.server.start();
    await first.close();
    result.coldStartMs = await Promise.all(
      runners.map(async (runner) => {
        const startedAt = performance.now();
        await runner.server.start();
        return performance.now() - startedAt;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    result.rssAfterStartKiB = rss();
    const pids = codexProcessesFor(codexHome);
    if (pids.length !== processes)
      result.failures.push(`${pids.length} codex processes, expected ${processes}`);

    const cpuBefore = process.cpuUsage();
    const codexCpuBefore = sum(pids.map(cpuWithChildren));
    const busy = machineCpu();
    const startedAt = performance.now();
    await Promise.all(
      workspaces.map((workspace, scope) =>
        runScope(runners[topology === 'shared' ? 0 : scope]!, scope, workspace, marks, result),
      ),
    );
    result.wallMs = performance.now() - startedAt;
    const cores = busy();
    const codexCpuTurns = sum(pids.map(cpuWithChildren)) - codexCpuBefore;
    const ours = process.cpuUsage(cpuBefore);
    result.otherCores = Math.max(
      0,
      cores - ((ours.user + ours.system) / 1e6 + codexCpuTurns) / (result.wallMs / 1000),
    );
    result.rssEndKiB = rss();
    result.codexCpuSeconds = sum(pids.map(cpuWithChildren));
    const expectedRequests = scopes * (ANSWER_TURNS + 2);
    if (mock.requests.length !== expectedRequests)
      result.failures.push(`${mock.requests.length} model requests, expected ${expectedRequests}`);
  } catch (error) {
    result.failures.push(`aborted: ${(error as Error).message}`);
  } finally {
    await Promise.all(runners.map((runner) => runner.close()));
    await rm(root, { recursive: true, force: true });
  }
  return result;
}

/** One scope's turns, one after another on its own thread. */
async function runScope(
  runner: CodexAppServerRunner,
  scope: number,
  workspace: string,
  marks: Map<string, Mark>,
  result: Result,
): Promise<void> {
  let sessionId: string | undefined;
  for (let turn = 0; turn < ANSWER_TURNS + 1; turn++) {
    const shell = turn === SHELL_TURN;
    const request: RunRequest = {
      runId: `bench-${scope}-${turn}`,
      scopeId: `chat:oc_bench_${scope}`,
      prompt: shell ? `scope ${scope} turn ${turn}: [[shell: echo hi]]` : `scope ${scope} turn ${turn}`,
      ...(sessionId ? { sessionId } : {}),
      workspace,
      sandbox: 'workspace-write',
      networkAccess: false,
    };
    const signal = AbortSignal.timeout(TURN_TIMEOUT_MS);
    let done: Extract<AgentEvent, { type: 'done' }> | undefined;
    let commandExit: number | undefined;
    for await (const event of runner.run(request, signal)) {
      if (event.type === 'session') sessionId = event.sessionId;
      else if (event.type === 'tool' && event.tool.kind === 'command' && event.tool.status !== 'started')
        commandExit = event.tool.exitCode;
      else if (event.type === 'done') done = event;
    }
    const mark = sessionId ? marks.get(sessionId) : undefined;
    if (done?.outcome !== 'completed' || !mark?.completed) {
      result.failures.push(
        `scope ${scope} turn ${turn}: ${done?.outcome ?? 'no outcome'} ${done?.error ?? ''}`,
      );
      continue;
    }
    if (shell) {
      if (commandExit !== 0) result.failures.push(`scope ${scope}: echo exited ${commandExit}`);
      result.shellTurnMs.push(mark.completed - mark.start);
    } else {
      result.answerTurnMs.push(mark.completed - mark.start);
      if (mark.firstDelta !== undefined) result.firstDeltaMs.push(mark.firstDelta - mark.start);
      else result.failures.push(`scope ${scope} turn ${turn}: no delta`);
    }
  }
}

const p50p95 = (xs: number[]) => `${fmtMs(percentile(xs, 50))} / ${fmtMs(percentile(xs, 95))}`;
const median = (xs: number[]) => percentile(xs, 50);

/** The rounds of one configuration: turn and start times pooled, the other figures their median. */
function combine(rounds: Result[]): Result {
  const first = rounds[0]!;
  const pooled = (pick: (r: Result) => number[]) => rounds.flatMap(pick);
  const mid = (pick: (r: Result) => number) => median(rounds.map(pick));
  return {
    ...first,
    coldStartMs: pooled((r) => r.coldStartMs),
    rssAfterStartKiB: mid((r) => r.rssAfterStartKiB),
    rssEndKiB: mid((r) => r.rssEndKiB),
    answerTurnMs: pooled((r) => r.answerTurnMs),
    firstDeltaMs: pooled((r) => r.firstDeltaMs),
    shellTurnMs: pooled((r) => r.shellTurnMs),
    wallMs: mid((r) => r.wallMs),
    codexCpuSeconds: mid((r) => r.codexCpuSeconds),
    otherCores: mid((r) => r.otherCores),
    failures: rounds.flatMap((r) => r.failures),
  };
}

function tableRow(r: Result): string {
  return `| ${[
    r.scopes,
    r.topology,
    r.processes,
    `${fmtMs(median(r.coldStartMs))} / ${fmtMs(Math.max(...r.coldStartMs))}`,
    fmtMiB(r.rssAfterStartKiB),
    fmtMiB(r.rssEndKiB),
    fmtMiB(r.rssEndKiB / r.scopes),
    p50p95(r.answerTurnMs),
    p50p95(r.firstDeltaMs),
    p50p95(r.shellTurnMs),
    fmtMs(r.wallMs),
    `${r.codexCpuSeconds.toFixed(1)} s`,
  ].join(' | ')} |`;
}

const others = await waitForQuietMachine(0.5, 60_000);
process.stderr.write(`[bench:topology] other load before start: ${others.toFixed(2)} cores\n`);
const mock = await startMockModel();
const byConfig = new Map<string, Result[]>();
const benchStart = performance.now();
try {
  // Rounds interleave the configurations, so a burst of other load on the machine hits all of them.
  for (let round = 0; round < ROUNDS; round++) {
    for (const scopes of SCOPE_COUNTS) {
      for (const topology of ['shared', 'per-scope'] as const) {
        process.stderr.write(
          `[bench:topology] round ${round + 1}/${ROUNDS}: ${scopes} scope(s), ${topology}…\n`,
        );
        const result = await measure(topology, scopes, mock);
        for (const failure of result.failures) process.stderr.write(`  ! ${failure}\n`);
        const key = `${scopes}:${topology}`;
        byConfig.set(key, [...(byConfig.get(key) ?? []), result]);
      }
    }
  }
} finally {
  await mock.close();
}
const results = [...byConfig.values()].map(combine);

const header =
  '| scopes | topology | app-server processes | spawn → initialize p50 / max | RSS after start | RSS at end | RSS at end per scope | answer turn p50 / p95 | first delta p50 / p95 | shell turn p50 / p95 | wall, all turns | codex CPU |';
const lines = [
  header,
  `|${'---|'.repeat(header.split('|').length - 2)}`,
  ...results.map(tableRow),
  '',
  `Per scope: ${ANSWER_TURNS} streamed answers (${DELTAS} deltas ${DELAY_MS} ms apart) + 1 turn running \`echo hi\`, one after another; scopes at once. ` +
    `${ROUNDS} rounds: turn and start times pooled (p50 / p95 over all of them), RSS, wall and CPU the median round. ` +
    `Turn figures are turn/start → turn/completed and → first item/agentMessage/delta. RSS = summed VmRSS of the codex processes. ` +
    `codex CPU = user + system seconds of those processes and the children they waited for (shells), start included. Other load on the machine during the turns (median round): ${results
      .map((r) => r.otherCores.toFixed(2))
      .join(', ')} cores; ${results.reduce((n, r) => n + r.failures.length, 0)} failures; bench ${(
      (performance.now() - benchStart) / 1000
    ).toFixed(0)} s; ${process.platform}/${process.arch}, Node ${process.version}.`,
];
process.stdout.write(`${lines.join('\n')}\n`);
