// `npm run bench:backends`: model delta → card content, on the two codex backends (sdk: `codex
// exec`; app-server), with the real codex binary against the mock model and larkcode's real
// composition root (production card timing) against the emulator.
//
// Each turn the mock streams an answer in DELTAS deltas, DELAY ms apart; delta i carries a marker
// ⟦turn:i⟧ and leaves the mock at about (request arrival + i × DELAY). Its latency is the arrival,
// at the emulator, of the first accepted card write carrying the marker, minus that time.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { resolvePaths } from '../src/config/paths.js';
import { configSchema } from '../src/config/schema.js';
import { emulatorAppConfig } from '../src/playground/app-config.js';
import { startFeishuEmulator } from '../src/playground/emulator/index.js';
import { codexProviderConfig } from '../src/playground/mock-model/codex-provider.js';
import { reply, startMockModel } from '../src/playground/mock-model/index.js';
import { startDaemon } from '../src/runtime/daemon.js';
import { fmtMs, markdownTable, percentile, type Row, writeDocSection } from './lib.js';

const TURNS = 8;
const DELTAS = 10;
const DELAY_MS = 150;
const STOPS = 5;

async function measure(backend: 'sdk' | 'app-server') {
  const emulator = await startFeishuEmulator();
  const mock = await startMockModel();
  const home = await mkdtemp(join(tmpdir(), `larkcode-bench-${backend}-`));
  const workspace = await mkdtemp(join(tmpdir(), `larkcode-bench-${backend}-ws-`));
  const config = configSchema.parse(
    emulatorAppConfig(emulator, {
      workspace,
      runs: { debounceMs: 20 },
      codex: { config: codexProviderConfig(mock.baseUrl), apiKey: 'sk-bench', backend },
    }),
  );
  const daemon = await startDaemon({
    config,
    paths: resolvePaths({ LARKCODE_HOME: home }),
    logger: pino({ level: 'silent' }),
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  const latencies: number[] = [];
  const firstDelta: number[] = [];
  const stops: number[] = [];
  try {
    const { chatId } = emulator.createChat({ mode: 'p2p' });
    for (let turn = 0; turn < TURNS; turn++) {
      const parts = Array.from({ length: DELTAS }, (_, i) => `⟦${turn}:${i}⟧ words ${i}`);
      mock.enqueue(reply.message(parts.join(' '), { deltas: DELTAS, delayMsBetweenDeltas: DELAY_MS }));
      const requestsBefore = mock.requests.length;
      await emulator.pushMessage({ chatId, text: `turn ${turn}` });
      await emulator.waitFor(
        () =>
          emulator.calls.some(
            (c) => c.status === 200 && JSON.stringify(c.body ?? '').includes(`⟦${turn}:${DELTAS - 1}⟧`),
          ),
        {
          timeoutMs: 30_000,
          intervalMs: 5,
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const requestAt = mock.requests[requestsBefore]?.at ?? Number.NaN;
      for (let i = 0; i < DELTAS; i++) {
        const marker = `⟦${turn}:${i}⟧`;
        const call = emulator.calls.find(
          (c) => c.status === 200 && JSON.stringify(c.body ?? '').includes(marker),
        );
        if (!call) continue;
        const latency = call.at - (requestAt + i * DELAY_MS);
        latencies.push(latency);
        if (i === 0) firstDelta.push(latency);
      }
    }
    // Stop: /stop while the model hangs → the card's final "Interrupted" write accepted.
    for (let round = 0; round < STOPS; round++) {
      const requestsBefore = mock.requests.length;
      await emulator.pushMessage({ chatId, text: `[[hang]] stop me ${round}` });
      await emulator.waitFor(() => mock.requests.length > requestsBefore, {
        timeoutMs: 30_000,
        intervalMs: 5,
      });
      const callsBefore = emulator.calls.length;
      const stopAt = Date.now();
      await emulator.pushMessage({ chatId, text: '/stop' });
      const interrupted = await emulator.waitFor(
        () =>
          emulator.calls
            .slice(callsBefore)
            .find((c) => c.status === 200 && JSON.stringify(c.body ?? '').includes('Interrupted')),
        { timeoutMs: 30_000, intervalMs: 5 },
      );
      stops.push(interrupted.at - stopAt);
    }
  } finally {
    await daemon.stop();
    await mock.close();
    await emulator.close();
  }
  return { latencies, firstDelta, stops, violations: emulator.violations.length };
}

const rows: Row[] = [
  [
    'Load',
    `${TURNS} turns × ${DELTAS} deltas`,
    `${DELAY_MS} ms apart (an answer written over ${((DELTAS - 1) * DELAY_MS) / 1000} s); real codex binary, mock model, production card timing`,
  ],
];
for (const backend of ['sdk', 'app-server'] as const) {
  process.stderr.write(`[bench:backends] ${backend}…\n`);
  const result = await measure(backend);
  rows.push([
    `**${backend}**: model delta → card p50 / p95`,
    `${fmtMs(percentile(result.latencies, 50))} / ${fmtMs(percentile(result.latencies, 95))}`,
    `${result.latencies.length} deltas; first delta of each answer p50 ${fmtMs(percentile(result.firstDelta, 50))}; ${result.violations} emulator limit violations`,
  ]);
  rows.push([
    `**${backend}**: /stop → card shows Interrupted, p50 / max`,
    `${fmtMs(percentile(result.stops, 50))} / ${fmtMs(Math.max(...result.stops))}`,
    `${result.stops.length} stops of a turn waiting on the model (${backend === 'sdk' ? 'the codex process is killed' : '`turn/interrupt`; the app-server stays up'})`,
  ]);
}
const table = markdownTable(rows);
process.stdout.write(`${table}\n`);
writeDocSection('backends', table, 'npm run bench:backends');
