// Core throughput: many scopes streaming agent events at once through the real machines and renderer.
//   node --import tsx bench/core.ts [--scopes 1000] [--seconds 30] [--rate 10]
// The daemon (`startDaemon` with a scripted, timed AgentRunner) runs in a child process, so its CPU
// and RSS are its own; the Feishu emulator and the load driver run here. Every emitted event carries
// a marker `K<seq>T<ms>E`; the card writes the emulator records give each event's emit → card
// latency, and the final cards tell whether any event was lost.
// Writes the table into docs/performance.md between the "core" markers.
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { DEFAULT_USER_OPEN_ID, startFeishuEmulator } from '../src/playground/emulator/index.js';
import type { ChildMessage, CoreDaemonOptions, RunnerStats } from './core-daemon.js';
import {
  fmtMiB,
  fmtMs,
  machineCpu,
  markdownTable,
  percentile,
  procCpuSeconds,
  procStatusKiB,
  ROOT,
  type Row,
  waitForQuietMachine,
  writeDocSection,
} from './lib.js';

const { values } = parseArgs({
  options: {
    scopes: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10' },
    'flush-ms': { type: 'string', default: '150' },
    'no-doc': { type: 'boolean', default: false },
    /** Seconds to wait for the rest of the machine to be quiet (0: measure at once). */
    'quiet-wait': { type: 'string', default: '300' },
  },
});
const SCOPES = Number(values.scopes);
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const FLUSH_MS = Number(values['flush-ms']);
const EVENTS_PER_RUN = Math.round(SECONDS * RATE);
const log = (text: string) => process.stderr.write(`[bench:core] ${text}\n`);

const othersBefore = await waitForQuietMachine(0.3, Number(values['quiet-wait']) * 1000);
const emulator = await startFeishuEmulator();
const home = await mkdtemp(join(tmpdir(), 'larkcode-bench-core-home-'));
const workspace = await mkdtemp(join(tmpdir(), 'larkcode-bench-core-ws-'));
const epoch = Date.now();
const childOptions: CoreDaemonOptions = {
  emulatorUrl: emulator.url,
  appId: emulator.appId,
  appSecret: emulator.appSecret,
  owner: DEFAULT_USER_OPEN_ID,
  home,
  workspace,
  scopes: SCOPES,
  seconds: SECONDS,
  rate: RATE,
  epoch,
  flushIntervalMs: FLUSH_MS,
  debounceMs: 20,
  barrierTimeoutMs: 180_000,
};

// ------------------------------------------------------------------ the daemon child
// Plain JS against the built dist/ (as `larkcode start` runs), not through the tsx loader, which
// alone adds ~90 MiB of RSS: the child is transpiled to dist/bench/, where `../src/…` is dist/src.
if (!existsSync(join(ROOT, 'dist/src/runtime/daemon.js'))) throw new Error('run `npm run build` first');
mkdirSync(join(ROOT, 'dist/bench'), { recursive: true });
const childScript = join(ROOT, 'dist/bench/core-daemon.js');
writeFileSync(
  childScript,
  ts.transpileModule(readFileSync(join(ROOT, 'bench/core-daemon.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText,
);
const child = fork(childScript, [JSON.stringify(childOptions)], {
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the daemon.
  // As bin/larkcode.js runs it (its shebang sets the heap limit).
  execArgv: process.env.BENCH_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? ['--max-old-space-size=512'],
  stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
});
// The daemon logs at warn; the node-sdk's error lines carry whole request bodies, so count them by
// message and echo only the first few, shortened.
const daemonLogs = new Map<string, number>();
createInterface({ input: child.stderr! }).on('line', (line) => {
  let key = line.slice(0, 80);
  try {
    const entry = JSON.parse(line) as { msg?: string };
    key = (entry.msg ?? '').replace(/\\"/g, '"');
    const hint = /"message":"([^"]{0,60})/.exec(key)?.[1];
    key = hint ? `sdk: ${hint}` : key.slice(0, 80);
  } catch {}
  const seen = daemonLogs.get(key) ?? 0;
  daemonLogs.set(key, seen + 1);
  if (seen < 2) process.stderr.write(`[daemon] ${line.slice(0, 300)}\n`);
});
const pid = child.pid!;
const childExited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
const nextMessage = <T extends ChildMessage['type']>(type: T, timeoutMs: number) =>
  new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${type}" from the daemon in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (message: ChildMessage) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message as Extract<ChildMessage, { type: T }>);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`daemon exited (${code}) while waiting for "${type}"`)));
  });

const spawnedAt = Date.now();
const goMessage = nextMessage('go', 600_000);
await nextMessage('ready', 60_000);
const readyRssKiB = procStatusKiB(pid, 'VmRSS');
log(`daemon ready in ${Date.now() - spawnedAt} ms, RSS ${fmtMiB(readyRssKiB)}`);

// ------------------------------------------------------------------ start every scope
const chats = Array.from({ length: SCOPES }, () => emulator.createChat({ mode: 'p2p' }).chatId);
const pushStarted = Date.now();
const PUSH_CONCURRENCY = 50;
for (let i = 0; i < SCOPES; i += PUSH_CONCURRENCY) {
  await Promise.all(
    chats
      .slice(i, i + PUSH_CONCURRENCY)
      .map((chatId, j) => emulator.pushMessage({ chatId, text: `bench ${i + j}` })),
  );
}
const pushMs = Date.now() - pushStarted;
log(`pushed ${SCOPES} messages in ${pushMs} ms`);
const go = await goMessage;
log(`go: ${go.started}/${SCOPES} runs started, ${go.at - pushStarted} ms after the first push`);

// ------------------------------------------------------------------ the measured window
const machineAtGo = machineCpu();
const cpuAtGo = procCpuSeconds(pid);
const parentCpuAtGo = process.cpuUsage();
const parentLoop = monitorEventLoopDelay({ resolution: 10 });
parentLoop.enable();
const windowStart = go.at;

interface CardTrack {
  seen: Uint8Array;
  finished: boolean;
}
const cards = new Map<string, CardTrack>();
const latencies: number[] = [];
let writesOk = 0;
let writesRejected = 0;
let writeBytes = 0;
let finishedCards = 0;
let processed = 0;
const rejectedCodes = new Map<string, number>();
const REPLY_PATH = /^\/open-apis\/im\/v1\/messages\/[^/]+\/reply$/;
const PATCH_PATH = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/;
const CARD_CREATE_PATH = /^\/open-apis\/cardkit\/v1\/cards$/;
const CARD_PATH = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)(\/settings|\/elements\/[^/]+\/content)?$/;

/**
 * Which card a recorded write went to, and the text it carried. Run cards are CardKit entities
 * (create, full update, streamed element content, settings); the interactive-card fallback
 * replies and PATCHes messages.
 */
function cardWrite(call: (typeof emulator.calls)[number]): { key?: string; content: string } | undefined {
  const body = call.body as { content?: string; data?: string; card?: { data?: string } } | undefined;
  if (call.method === 'POST' && CARD_CREATE_PATH.test(call.path)) {
    const key = (call.response as { data?: { card_id?: string } } | undefined)?.data?.card_id;
    return { ...(key ? { key } : {}), content: body?.data ?? '' };
  }
  const card = CARD_PATH.exec(call.path);
  if (card && (call.method === 'PUT' || call.method === 'PATCH')) {
    return { key: card[1], content: body?.card?.data ?? body?.content ?? '' };
  }
  if (call.method === 'POST' && REPLY_PATH.test(call.path)) {
    const key = (call.response as { data?: { message_id?: string } } | undefined)?.data?.message_id;
    // A reply that sends a CardKit entity by reference carries no text of its own.
    return {
      ...(key ? { key } : {}),
      content: body?.content?.includes('"card_id"') ? '' : (body?.content ?? ''),
    };
  }
  if (call.method === 'PATCH') {
    const key = PATCH_PATH.exec(call.path)?.[1];
    return { ...(key ? { key } : {}), content: body?.content ?? '' };
  }
  return undefined;
}

/** Fold the card writes the emulator recorded since last time, then drop their bodies (memory). */
function processCalls(): void {
  const calls = emulator.calls;
  for (; processed < calls.length; processed++) {
    const call = calls[processed]!;
    if (call.status === 0) break; // still being handled
    const write = cardWrite(call);
    if (!write) continue;
    const { key, content } = write;
    call.body = undefined;
    const code = (call.response as { code?: number } | undefined)?.code;
    call.response = { code };
    if (call.status !== 200 || code !== 0 || !key) {
      writesRejected++;
      const label = `${call.method} ${call.status}/${code}`;
      rejectedCodes.set(label, (rejectedCodes.get(label) ?? 0) + 1);
      continue;
    }
    writesOk++;
    writeBytes += content.length;
    let track = cards.get(key);
    if (!track) {
      track = { seen: new Uint8Array(EVENTS_PER_RUN), finished: false };
      cards.set(key, track);
    }
    for (const match of content.matchAll(/K(\d+)T([0-9a-z]+)E/g)) {
      const seq = Number(match[1]);
      if (seq >= EVENTS_PER_RUN || track.seen[seq]) continue;
      track.seen[seq] = 1;
      latencies.push(call.at - (epoch + Number.parseInt(match[2]!, 36)));
    }
    if (!track.finished && content.includes('✅ Done')) {
      track.finished = true;
      finishedCards++;
    }
  }
}

let peakSampledRssKiB = 0;
const sampler = setInterval(() => {
  processCalls();
  peakSampledRssKiB = Math.max(peakSampledRssKiB, procStatusKiB(pid, 'VmRSS'));
}, 1000);

// Feishu allows 1000 card writes a minute per API: 1,000 final cards alone take a minute or more.
const deadline = Date.now() + SECONDS * 1000 + 300_000;
let lastReport = Date.now();
// CPU while the agents are emitting (the load itself), apart from the quota-bound tail of final cards.
let loadCpu: { seconds: number; wallS: number } | undefined;
while (finishedCards < go.started && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 100));
  if (!loadCpu && Date.now() - windowStart >= SECONDS * 1000) {
    loadCpu = { seconds: procCpuSeconds(pid) - cpuAtGo, wallS: (Date.now() - windowStart) / 1000 };
  }
  if (Date.now() - lastReport > 5000) {
    lastReport = Date.now();
    log(
      `t+${Math.round((Date.now() - windowStart) / 1000)} s: ${writesOk} card writes, ${finishedCards} final, daemon RSS ${fmtMiB(procStatusKiB(pid, 'VmRSS'))}`,
    );
  }
}
processCalls();
const windowEnd = Date.now();
const cpuAtEnd = procCpuSeconds(pid);
const parentCpu = process.cpuUsage(parentCpuAtGo);
const machineCores = machineAtGo();
parentLoop.disable();
clearInterval(sampler);
const hwmKiB = procStatusKiB(pid, 'VmHWM');
child.send({ type: 'stats' });
const { stats } = (await nextMessage('stats', 10_000)) as { stats: RunnerStats };

// ------------------------------------------------------------------ what the user ends up seeing
let dropped = 0;
let runsMissingEvents = 0;
let runsNotDone = 0;
let runsWithoutCard = 0;
for (const chatId of chats) {
  // What the user sees: the run's cards (a long run continues on more than one).
  const cardsShown = emulator.view(chatId).filter((m) => m.from === 'bot' && m.msgType === 'interactive');
  if (cardsShown.length === 0) {
    runsWithoutCard++;
    dropped += EVENTS_PER_RUN;
    continue;
  }
  if (!cardsShown.at(-1)!.text.includes('✅ Done')) runsNotDone++;
  const seen = new Uint8Array(EVENTS_PER_RUN);
  for (const card of cardsShown) {
    for (const match of card.text.matchAll(/K(\d+)T[0-9a-z]+E/g)) seen[Number(match[1])] = 1;
  }
  const missing = seen.reduce((n, s) => n + (s ? 0 : 1), 0);
  dropped += missing;
  if (missing > 0) runsMissingEvents++;
}
const violations = new Map<string, number>();
for (const v of emulator.violations) violations.set(v.kind, (violations.get(v.kind) ?? 0) + 1);

child.send({ type: 'stop' });
await Promise.race([childExited, new Promise((r) => setTimeout(r, 15_000))]);
if (child.exitCode === null) child.kill('SIGKILL');

// ------------------------------------------------------------------ report
const windowS = (windowEnd - windowStart) / 1000;
const emitSpanS = (stats.lastEmitAt - stats.firstEmitAt) / 1000;
const offered = SCOPES * RATE;
const daemonCores = (cpuAtEnd - cpuAtGo) / windowS;
const parentCores = (parentCpu.user + parentCpu.system) / 1e6 / windowS;
const violationText = violations.size ? [...violations].map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
const rows: Row[] = [
  [
    'Load',
    `${SCOPES} scopes × ${RATE} events/s × ${SECONDS} s`,
    `${EVENTS_PER_RUN} events per run (text deltas; a command started + completed every ${30} events); card flush ${FLUSH_MS} ms`,
  ],
  [
    'Start-up: messages pushed → every run started',
    fmtMs(go.at - pushStarted),
    `${SCOPES} p2p messages pushed ${PUSH_CONCURRENCY} at a time in ${fmtMs(pushMs)} (intake, dedup journal, scope records: synchronous fsyncs)`,
  ],
  [
    'Agent events handled by the daemon',
    `${Math.round(stats.emitted / emitSpanS).toLocaleString('en-US')} events/s`,
    `${stats.emitted.toLocaleString('en-US')} events in ${emitSpanS.toFixed(1)} s (offered ${offered.toLocaleString('en-US')}/s); ${stats.finished}/${SCOPES} runs completed`,
  ],
  [
    'Event → card latency p50 / p99',
    `${fmtMs(percentile(latencies, 50))} / ${fmtMs(percentile(latencies, 99))}`,
    `max ${fmtMs(latencies.reduce((a, b) => Math.max(a, b), 0))}; agent emits → card write carrying it reaches the emulator; ${latencies.length.toLocaleString('en-US')} events`,
  ],
  [
    'Daemon CPU during the load',
    loadCpu ? `${(loadCpu.seconds / loadCpu.wallS).toFixed(2)} cores` : 'n/a',
    loadCpu
      ? `/proc utime+stime over the first ${loadCpu.wallS.toFixed(1)} s, while the agents emit (their scripted timers run in the daemon too); target ≤ 1`
      : 'the run ended before the load window did',
  ],
  [
    'Daemon CPU, whole window',
    `${daemonCores.toFixed(2)} cores`,
    `/proc utime+stime over ${windowS.toFixed(1)} s (first event → last final card, quota-bound tail included)`,
  ],
  [
    'Daemon CPU per 1,000 events',
    `${(((cpuAtEnd - cpuAtGo) / stats.emitted) * 1e6).toFixed(0)} ms`,
    'CPU time of the window ÷ events (card writes included); holds even when other load stretches the window',
  ],
  [
    'Daemon peak RSS (VmHWM)',
    fmtMiB(hwmKiB),
    `${fmtMiB(readyRssKiB)} at ready (idle, before any scope); JS heap peak ${stats.heapUsedPeakMiB} MiB used; target ≤ 300 MiB`,
  ],
  [
    'Dropped events',
    String(dropped),
    `events missing from the final cards; ${runsMissingEvents} runs missing some, ${runsNotDone} final cards not "Done", ${runsWithoutCard} runs without a card; target 0`,
  ],
  [
    'Card writes',
    `${Math.round(writesOk / windowS)} /s`,
    `${writesOk.toLocaleString('en-US')} accepted (${(writeBytes / writesOk / 1024).toFixed(1)} KiB avg content), ${writesRejected} rejected${rejectedCodes.size ? ` (${[...rejectedCodes].map(([k, n]) => `${k} ×${n}`).join(', ')})` : ''}`,
  ],
  ['Emulator limit violations', String(emulator.violations.length), violationText],
  [
    'Daemon warnings/errors logged',
    String([...daemonLogs.values()].reduce((a, b) => a + b, 0)),
    daemonLogs.size ? [...daemonLogs].map(([k, n]) => `${k.replace(/\|/g, '/')} ×${n}`).join('; ') : 'none',
  ],
  [
    'Daemon event-loop delay p99 / max',
    `${stats.loopDelayP99} / ${stats.loopDelayMax} ms`,
    `runner schedule lag p50 / p99 / max ${stats.scheduleLagP50} / ${stats.scheduleLagP99} / ${stats.scheduleLagMax} ms`,
  ],
  [
    'Parent (emulator + driver) CPU, loop delay p99',
    `${parentCores.toFixed(2)} cores, ${Math.round(parentLoop.percentile(99) / 1e6)} ms`,
    'same window; the emulator stamps arrival times, so a saturated parent would inflate latency',
  ],
  [
    'Other processes on the machine',
    `${Math.max(0, machineCores - daemonCores - parentCores).toFixed(2)} cores`,
    `same window (machine total ${machineCores.toFixed(2)} of 2); ${othersBefore.toFixed(2)} cores just before the run`,
  ],
];
const table = markdownTable(rows);
process.stdout.write(`${table}\n`);
if (!values['no-doc'])
  writeDocSection(
    'core',
    table,
    `npm run bench:core -- --scopes ${SCOPES} --seconds ${SECONDS} --rate ${RATE}`,
  );

await emulator.close();
await rm(home, { recursive: true, force: true });
await rm(workspace, { recursive: true, force: true });
process.exit(0);
