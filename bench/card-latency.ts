// Card streaming latency: agent text delta → the CardKit write carrying it, at the emulator.
//   node --import tsx bench/card-latency.ts [--deltas 400] [--chats 5] [--seed 1] [--no-doc]
// In one process: the Feishu emulator, larkcode's real composition root (`startDaemon`, real
// node-sdk) with a ScriptedAgent, and the driver. The daemon keeps its production card timing
// (no `cardFlushIntervalMs` override; the runner's text merge window is fixed in daemon.ts);
// only the quiet window before a run is shortened, as it is not part of this measure.
// Every delta carries a marker `⟦chat:k⟧`; the emulator's call log (arrival time, body) gives each
// delta's push → first accepted card write (element content, full update or card creation) that
// carries it. Inspection events split that time into the runner's merge window, the renderer's
// wait and the write itself. Two scenarios: one chat streaming alone, then several at once.
// Writes the table into docs/performance.md between the "cards" markers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { InspectionEvent } from 'xstate';
import type { AgentEvent } from '../src/agents/types.js';
import { resolvePaths } from '../src/config/paths.js';
import { configSchema } from '../src/config/schema.js';
import { emulatorAppConfig } from '../src/playground/app-config.js';
import { LIMITS, type RecordedCall, startFeishuEmulator } from '../src/playground/emulator/index.js';
import { startDaemon } from '../src/runtime/daemon.js';
import { ScriptedAgent, type ScriptedRun } from '../test/support/scripted-agent.js';
import {
  fmtMs,
  machineCpu,
  markdownTable,
  percentile,
  type Row,
  waitForQuietMachine,
  writeDocSection,
} from './lib.js';

const { values } = parseArgs({
  options: {
    deltas: { type: 'string', default: '400' },
    chats: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    'no-doc': { type: 'boolean', default: false },
    /** Seconds to wait for the rest of the machine to be quiet (0: measure at once). */
    'quiet-wait': { type: 'string', default: '120' },
  },
});
const DELTAS = Number(values.deltas);
const CONCURRENT_CHATS = Number(values.chats);
const SEED = Number(values.seed);
const TARGET_P95_MS = 250;
/** Not part of this measure: the quiet window that merges quick messages before a run. */
const DEBOUNCE_MS = 20;
/** Text deltas arrive 20–200 ms apart, except in bursts (0–5 ms apart). */
const GAP_MS = [20, 200] as const;
const BURSTS = 4;
const BURST_LENGTH = 15;
/** A command between answer paragraphs: the card's layout changes (full update, new text element). */
const TOOL_EVERY = 150;
const log = (text: string) => process.stderr.write(`[bench:cards] ${text}\n`);

// ------------------------------------------------------------------ helpers

/** mulberry32: a small seeded PRNG, so every run pushes the same schedule. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the card shows what the agent writes as it writes it while tokens stream in order'.split(' ');
const MARKER = /⟦(\d+):(\d+)⟧/g;
const key = (chat: number, k: number) => `${chat}:${k}`;
const markersIn = (text: string) => Array.from(text.matchAll(MARKER), (m) => key(Number(m[1]), Number(m[2])));

interface Stats {
  n: number;
  p50: number;
  p95: number;
  max: number;
}
const stats = (xs: number[]): Stats => ({
  n: xs.length,
  p50: percentile(xs, 50),
  p95: percentile(xs, 95),
  max: xs.length ? Math.max(...xs) : Number.NaN,
});
const fmtStats = (s: Stats) => `${fmtMs(s.p50)} / ${fmtMs(s.p95)} / ${fmtMs(s.max)}`;

/** Most accepted events in any sliding window of `windowMs` (times sorted ascending). */
function maxInWindow(times: number[], windowMs = 1000): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while ((times[hi] as number) - (times[lo] as number) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

// ------------------------------------------------------------------ where the time goes

/**
 * Watches the actor system: when a marker leaves the runner (its text-merge window closed), when
 * the renderer folds it (and at which version), and when each renderer starts a card write.
 */
class StageProbe {
  readonly runnerAt = new Map<string, number>();
  readonly renderAt = new Map<string, { at: number; renderer: object; version: number }>();
  readonly flushStarts = new Map<object, { at: number; version: number }[]>();
  readonly #lastValue = new Map<object, unknown>();

  readonly inspect = (ev: InspectionEvent) => {
    if (ev.type === '@xstate.event') {
      const event = ev.event as { type: string; event?: AgentEvent };
      if (event.type === 'runner.event' && event.event?.type === 'text') {
        const at = Date.now();
        for (const m of markersIn(event.event.text)) if (!this.runnerAt.has(m)) this.runnerAt.set(m, at);
      }
      return;
    }
    if (ev.type !== '@xstate.snapshot') return;
    const snapshot = ev.snapshot as {
      value?: unknown;
      context?: { version?: number; flushedVersion?: number };
    };
    const context = snapshot.context;
    if (!context || context.flushedVersion === undefined || context.version === undefined) return; // not a renderer
    const at = Date.now();
    const renderer = ev.actorRef;
    const event = ev.event as { type: string; event?: AgentEvent };
    if (event.type === 'render.agent' && event.event?.type === 'text') {
      for (const m of markersIn(event.event.text))
        if (!this.renderAt.has(m)) this.renderAt.set(m, { at, renderer, version: context.version });
    }
    const previous = this.#lastValue.get(renderer);
    this.#lastValue.set(renderer, snapshot.value);
    // A write starts on entering `flushing`, or on re-entering it when a write is done.
    if (
      snapshot.value === 'flushing' &&
      (previous !== 'flushing' || event.type.startsWith('xstate.done.actor'))
    ) {
      const list = this.flushStarts.get(renderer) ?? [];
      list.push({ at, version: context.version });
      this.flushStarts.set(renderer, list);
    }
  };

  /** The write that carried a marker: the renderer's last write start before its arrival, at or after its version. */
  flushStartFor(marker: string, arrivedAt: number): number | undefined {
    const folded = this.renderAt.get(marker);
    if (!folded) return undefined;
    let found: number | undefined;
    for (const start of this.flushStarts.get(folded.renderer) ?? []) {
      if (start.at > arrivedAt) break;
      if (start.version >= folded.version) found = start.at;
    }
    return found;
  }
}

// ------------------------------------------------------------------ card writes at the emulator

type WriteKind = 'content' | 'update' | 'create';
const CARDKIT = '/open-apis/cardkit/v1/cards';
const CONTENT_PATH = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/elements\/[^/]+\/content$/;
const CARD_PATH = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)$/;
const CARD_OP_PATH = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)(?:\/|$)/;

const accepted = (c: RecordedCall) => c.status === 200 && (c.response as { code?: number })?.code === 0;

/** The text a card write carries, and what kind of write it is. */
function carried(call: RecordedCall): { kind: WriteKind; text: string } | undefined {
  const body = call.body as { content?: unknown; card?: { data?: unknown } } | undefined;
  if (call.method === 'PUT' && CONTENT_PATH.test(call.path) && typeof body?.content === 'string')
    return { kind: 'content', text: body.content };
  if (call.method === 'PUT' && CARD_PATH.test(call.path) && typeof body?.card?.data === 'string')
    return { kind: 'update', text: body.card.data };
  if (call.method === 'POST' && call.path === CARDKIT && typeof body?.card?.data === 'string')
    return { kind: 'create', text: body.card.data };
  return undefined;
}

// ------------------------------------------------------------------ one scenario

interface ScenarioResult {
  name: string;
  chats: number;
  deltas: number;
  latency: Stats;
  byKind: Record<WriteKind, number>;
  stages: { runner: Stats; hop: Stats; renderer: Stats; write: Stats };
  missing: number;
  cards: number;
  opsPerCardMax1s: number;
  opsPerCardAvg: number;
  contentWrites: number;
  fullUpdates: number;
  contentWritesPerMinute: number;
  ownCores: number;
  violations: string[];
  rejected: number;
  logWarnings: Map<string, number>;
  loopP99: number;
  loopMax: number;
  scheduleLagP99: number;
  streamSeconds: number;
  others: number;
}

async function runScenario(name: string, chats: number): Promise<ScenarioResult> {
  const emulator = await startFeishuEmulator();
  const agent = new ScriptedAgent();
  const probe = new StageProbe();
  const home = await mkdtemp(join(tmpdir(), 'larkcode-bench-cards-home-'));
  const workspace = await mkdtemp(join(tmpdir(), 'larkcode-bench-cards-ws-'));
  const logWarnings = new Map<string, number>();
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        const msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? line).slice(0, 80);
        logWarnings.set(msg, (logWarnings.get(msg) ?? 0) + 1);
      },
    },
  );
  const config = configSchema.parse(
    emulatorAppConfig(emulator, {
      workspace,
      codex: { config: {} },
      // Every chat runs at once (production allows 4 by default).
      runs: { debounceMs: DEBOUNCE_MS, maxConcurrent: Math.max(4, chats) },
      logLevel: 'warn',
    }),
  );
  // No cardFlushIntervalMs: the daemon's own default, as `larkcode start` runs it.
  const daemon = await startDaemon({
    config,
    paths: resolvePaths({ LARKCODE_HOME: home }),
    logger,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    agent,
    inspect: probe.inspect,
  });

  // Start one run per chat and let its card appear before the text flows.
  const chatIds = Array.from({ length: chats }, () => emulator.createChat({ mode: 'p2p' }).chatId);
  await Promise.all(chatIds.map((chatId, c) => emulator.pushMessage({ chatId, text: `stream ${c}` })));
  await emulator.waitFor(() => agent.runs.length >= chats, { timeoutMs: 15_000 });
  const runs = chatIds.map((chatId) => {
    const run = agent.runs.find((r) => r.request.scopeId.includes(chatId));
    if (!run) throw new Error(`no run for chat ${chatId}`);
    return run;
  });
  await emulator.waitFor(
    () => emulator.callsTo('POST', /\/messages\/[^/]+\/reply$/).filter(accepted).length >= chats,
    { timeoutMs: 15_000 },
  );
  await sleep(1000);

  // Stream: every chat on its own seeded schedule, all at once.
  const pushedAt = new Map<string, number>();
  const lags: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const machine = machineCpu();
  const ownCpuBefore = process.cpuUsage();
  const streamStart = Date.now();
  const callsBefore = emulator.calls.length;
  const stream = async (run: ScriptedRun, chat: number) => {
    const random = rng(SEED * 1000 + chat);
    const burstStarts = new Set(
      Array.from({ length: BURSTS }, (_, i) => Math.floor(((i + 0.5) * DELTAS) / BURSTS + random() * 20)),
    );
    let burstLeft = 0;
    let item = 0;
    let due = Date.now();
    const wait = async (ms: number) => {
      due += ms;
      const delay = due - Date.now();
      if (delay > 0) await sleep(delay);
      lags.push(Date.now() - due);
    };
    for (let k = 0; k < DELTAS; k++) {
      if (k > 0 && k % TOOL_EVERY === 0) {
        const id = `cmd${chat}-${k}`;
        const tool = (status: 'started' | 'completed'): AgentEvent => ({
          type: 'tool',
          tool: {
            kind: 'command',
            id,
            status,
            command: `/bin/bash -lc 'npm test -- step ${k}'`,
            output: status === 'completed' ? `ok step ${k}\n`.repeat(5) : '',
            ...(status === 'completed' ? { exitCode: 0 } : {}),
          },
        });
        run.push(tool('started'));
        await wait(300 + random() * 400);
        run.push(tool('completed'));
        item++;
        await wait(50);
      }
      const words = Array.from(
        { length: 2 + Math.floor(random() * 4) },
        () => WORDS[Math.floor(random() * WORDS.length)],
      );
      const text = `⟦${chat}:${k}⟧ ${words.join(' ')}${random() < 0.08 ? '.\n\n' : ' '}`;
      pushedAt.set(key(chat, k), Date.now());
      run.push({ type: 'text', itemId: `answer${item}`, text, mode: 'delta' });
      if (burstStarts.has(k)) burstLeft = BURST_LENGTH;
      if (burstLeft > 0) {
        burstLeft--;
        await wait(random() * 5);
      } else {
        await wait(GAP_MS[0] + random() * (GAP_MS[1] - GAP_MS[0]));
      }
    }
    run.finish('completed');
  };
  await Promise.all(runs.map((run, chat) => stream(run, chat)));
  const streamEnd = Date.now();
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const ownCores = (ownCpu.user + ownCpu.system) / 1e3 / (streamEnd - streamStart);
  const othersCores = Math.max(0, machine() - ownCores);

  // Every final card written: streaming off on every card entity the runs created.
  await emulator.waitFor(
    () => {
      const cards = Object.values(emulator.cards);
      return cards.length >= chats && cards.every((card) => !card.streamingMode);
    },
    { timeoutMs: 30_000 },
  );
  await sleep(300);
  loop.disable();

  // First accepted write carrying each marker.
  const calls = emulator.calls.slice(callsBefore);
  const firstSeen = new Map<string, { at: number; kind: WriteKind }>();
  for (const call of calls) {
    if (!accepted(call)) continue;
    const write = carried(call);
    if (!write) continue;
    for (const m of markersIn(write.text))
      if (!firstSeen.has(m)) firstSeen.set(m, { at: call.at, kind: write.kind });
  }
  const latencies: number[] = [];
  const byKind: Record<WriteKind, number> = { content: 0, update: 0, create: 0 };
  const stage = {
    runner: [] as number[],
    hop: [] as number[],
    renderer: [] as number[],
    write: [] as number[],
  };
  let missing = 0;
  for (const [m, pushed] of pushedAt) {
    const seen = firstSeen.get(m);
    if (!seen) {
      missing++;
      continue;
    }
    latencies.push(seen.at - pushed);
    byKind[seen.kind]++;
    const left = probe.runnerAt.get(m);
    const folded = probe.renderAt.get(m);
    const flushStart = probe.flushStartFor(m, seen.at);
    if (left === undefined || folded === undefined || flushStart === undefined) continue;
    stage.runner.push(left - pushed);
    stage.hop.push(folded.at - left);
    stage.renderer.push(flushStart - folded.at);
    stage.write.push(seen.at - flushStart);
  }

  // Card operations per card (every sequenced op on an existing card, accepted).
  const opsByCard = new Map<string, number[]>();
  for (const call of calls) {
    const id = CARD_OP_PATH.exec(call.path)?.[1];
    if (!id || !accepted(call)) continue;
    const list = opsByCard.get(id) ?? [];
    list.push(call.at);
    opsByCard.set(id, list);
  }
  const streamSeconds = (streamEnd - streamStart) / 1000;
  const opsPerCardMax1s = Math.max(0, ...[...opsByCard.values()].map((times) => maxInWindow(times)));
  const opsDuringStream = [...opsByCard.values()].map(
    (times) => times.filter((at) => at >= streamStart && at <= streamEnd).length,
  );
  const opsPerCardAvg =
    opsDuringStream.reduce((a, b) => a + b, 0) / Math.max(1, opsByCard.size) / streamSeconds;
  const contentWrites = calls.filter(
    (c) => accepted(c) && c.method === 'PUT' && CONTENT_PATH.test(c.path),
  ).length;
  const fullUpdates = calls.filter((c) => accepted(c) && c.method === 'PUT' && CARD_PATH.test(c.path)).length;
  const contentWritesStreaming = calls.filter(
    (c) =>
      accepted(c) &&
      c.method === 'PUT' &&
      CONTENT_PATH.test(c.path) &&
      c.at >= streamStart &&
      c.at <= streamEnd,
  ).length;
  const rejected = calls.filter((c) => c.path.startsWith(CARDKIT) && !accepted(c)).length;

  const result: ScenarioResult = {
    name,
    chats,
    deltas: pushedAt.size,
    latency: stats(latencies),
    byKind,
    stages: {
      runner: stats(stage.runner),
      hop: stats(stage.hop),
      renderer: stats(stage.renderer),
      write: stats(stage.write),
    },
    missing,
    cards: opsByCard.size,
    opsPerCardMax1s,
    opsPerCardAvg,
    contentWrites,
    fullUpdates,
    contentWritesPerMinute: (contentWritesStreaming / streamSeconds) * 60,
    ownCores,
    violations: emulator.violations.map((v) => `${v.kind}: ${v.detail}`),
    rejected,
    logWarnings,
    loopP99: loop.percentile(99) / 1e6,
    loopMax: loop.max / 1e6,
    scheduleLagP99: percentile(lags, 99),
    streamSeconds,
    others: othersCores,
  };
  await daemon.stop();
  await emulator.close();
  await rm(home, { recursive: true, force: true });
  await rm(workspace, { recursive: true, force: true });
  return result;
}

// ------------------------------------------------------------------ run and report

const othersBefore = await waitForQuietMachine(0.3, Number(values['quiet-wait']) * 1000);
const results: ScenarioResult[] = [];
for (const [name, chats] of [
  ['1 chat', 1],
  [`${CONCURRENT_CHATS} chats at once`, CONCURRENT_CHATS],
] as const) {
  log(`${name}: ${DELTAS} deltas per chat…`);
  const result = await runScenario(name, chats);
  results.push(result);
  log(
    `${name}: latency p50/p95/max ${fmtStats(result.latency)} over ${result.latency.n} deltas (${result.missing} missing); ` +
      `runner ${fmtStats(result.stages.runner)}, renderer ${fmtStats(result.stages.renderer)}, write ${fmtStats(result.stages.write)}; ` +
      `ops/s per card max ${result.opsPerCardMax1s}; violations ${result.violations.length}`,
  );
  for (const v of result.violations.slice(0, 5)) log(`  violation ${v}`);
  for (const [msg, n] of result.logWarnings) log(`  daemon logged ${n}× "${msg}"`);
}

const verdict = (s: Stats) => (s.p95 <= TARGET_P95_MS ? 'met' : 'missed');
const rows: Row[] = [
  [
    'Load',
    `${DELTAS} text deltas per chat`,
    `a few words each, 20–200 ms apart with ${BURSTS} bursts of ${BURST_LENGTH} (0–5 ms apart); a command every ${TOOL_EVERY} deltas, the answer continuing in a new text element; seed ${SEED}; card flush interval and runner text merge as in production (src/runtime/daemon.ts)`,
  ],
];
for (const r of results) {
  rows.push(
    [
      `**${r.name}**: delta → card write p50 / p95 / max`,
      fmtStats(r.latency),
      `target p95 ≤ ${TARGET_P95_MS} ms: ${verdict(r.latency)}; ${r.latency.n} deltas (${r.missing} never written); first carried by ${r.byKind.content} element-content writes, ${r.byKind.update} full updates, ${r.byKind.create} card creations`,
    ],
    [
      `${r.name}: runner merge / renderer wait / write`,
      `${fmtMs(r.stages.runner.p50)} / ${fmtMs(r.stages.renderer.p50)} / ${fmtMs(r.stages.write.p50)}`,
      `p50 of each stage; p95 ${fmtMs(r.stages.runner.p95)} / ${fmtMs(r.stages.renderer.p95)} / ${fmtMs(r.stages.write.p95)}; runner → renderer hop p95 ${fmtMs(r.stages.hop.p95)}`,
    ],
    [
      `${r.name}: card operations per card`,
      `${r.opsPerCardMax1s} /s max`,
      `most accepted ops on one card in any 1 s window (Feishu: ${LIMITS.cardOpsPerSecond}); ${r.opsPerCardAvg.toFixed(1)} /s average while streaming; ${r.contentWrites} content writes + ${r.fullUpdates} full updates on ${r.cards} card${r.cards === 1 ? '' : 's'}; ${Math.round(r.contentWritesPerMinute)} element-content writes/min app-wide while streaming (larkcode's budget: 950/min per API)`,
    ],
    [
      `${r.name}: emulator limit violations`,
      String(r.violations.length),
      `${r.rejected} CardKit calls rejected; ${[...r.logWarnings.values()].reduce((a, b) => a + b, 0)} daemon warnings/errors logged`,
    ],
    [
      `${r.name}: event-loop delay p99 / max`,
      `${fmtMs(r.loopP99)} / ${fmtMs(r.loopMax)}`,
      `one process (emulator + daemon + driver); driver schedule lag p99 ${fmtMs(r.scheduleLagP99)}; ${r.streamSeconds.toFixed(1)} s of streaming; this process ${r.ownCores.toFixed(2)} cores, other processes ${r.others.toFixed(2)} cores`,
    ],
  );
}
const table = markdownTable(rows);
process.stdout.write(`${table}\n`);
log(`other processes before the run: ${othersBefore.toFixed(2)} cores`);
if (!values['no-doc']) writeDocSection('cards', table, 'npm run bench:cards');
const failed = results.some((r) => r.violations.length > 0 || r.missing > 0);
process.exit(failed ? 1 : 0);
