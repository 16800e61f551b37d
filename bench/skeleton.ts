// Walking-skeleton figures, measured against the local Feishu emulator and mock model:
//   node --import tsx bench/skeleton.ts [--runs N]
// Cold start, idle memory, event ack latency, and larkcode's overhead on a real codex turn.
// Writes the table into docs/performance.md between the "skeleton" markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Codex } from '@openai/codex-sdk';
import { reply } from '../src/playground/mock-model/index.js';
import { codexChildEnv, codexProviderConfig, makeCodexHome } from '../test/support/codex-harness.js';
import { spawnProcess } from '../test/support/processes.js';
import { startBenchStack } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const RUNS = Number(values.runs);

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const median = (xs: number[]) => percentile(xs, 50);
const fmt = (ms: number) => `${Math.round(ms)} ms`;

const stack = await startBenchStack('skeleton', { logLevel: 'warn' });
const { emulator, mock, workspace } = stack;
const startLarkcode = () => spawnProcess(process.execPath, stack.larkcodeArgs, { env: stack.env });
const stop = async (proc: ReturnType<typeof startLarkcode>) => {
  proc.child.kill('SIGTERM');
  await proc.exited;
};
// 'ready' is logged at info; the bench config logs at warn, so watch the emulator for the first ping instead.
const readyAt = async () => {
  await emulator.waitForClient(20_000);
  return Date.now();
};

// 1. Cold start: process spawn → long connection up (first ping at the emulator).
const coldStarts: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = Date.now();
  const proc = startLarkcode();
  coldStarts.push((await readyAt()) - t0);
  await stop(proc);
  await emulator.waitFor(() => emulator.connectedClients() === 0, { timeoutMs: 5000 });
}

const larkcode = startLarkcode();
await readyAt();

// 2. Idle memory: resident set of the daemon after it settles.
await new Promise((r) => setTimeout(r, 2000));
const status = readFileSync(`/proc/${larkcode.child.pid}/status`, 'utf8');
const idleRssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;

// 3. Ack latency: event frame pushed → ack frame received (group messages without a mention: no run).
const group = emulator.createChat({ mode: 'group' });
const ackLatencies: number[] = [];
for (let i = 0; i < 100; i++) {
  const pushed = await emulator.pushMessage({ chatId: group.chatId, chatType: 'group', text: `noise ${i}` });
  const record = emulator.acks.find((a) => a.eventId === pushed.eventId);
  if (record) ackLatencies.push(record.latencyMs);
}

// 4. Turn overhead: Feishu message → result card at the emulator, against a bare codex-sdk turn on the
//    same mock. Interleaved, so drift and background load hit both alike; one CODEX_HOME for the bare
//    turns, as larkcode keeps one per profile; the first pair warms up and is not counted.
const larkcodeTurns: number[] = [];
const firstCards: number[] = [];
const reactions: number[] = [];
// The quiet window that merges quick messages is deliberate latency; measured turns subtract it.
const DEBOUNCE_MS = 800;
const bareTurns: number[] = [];
const { codexHome, cleanup } = await makeCodexHome();
const bareCodex = new Codex({
  apiKey: 'sk-bench',
  env: codexChildEnv(codexHome),
  config: codexProviderConfig(mock.baseUrl),
});
for (let i = -1; i < RUNS; i++) {
  mock.enqueue(reply.message(`answer ${i}`));
  const chat = emulator.createChat({ mode: 'p2p' });
  const t0 = Date.now();
  const sent = await emulator.pushMessage({ chatId: chat.chatId, text: `question ${i}` });
  // First visible signal: the reaction on the user's message.
  const reacted = await emulator.waitFor(
    () =>
      emulator.calls.find(
        (c) => c.method === 'POST' && c.path.endsWith(`/messages/${sent.messageId}/reactions`),
      ),
    { timeoutMs: 20_000, intervalMs: 1 },
  );
  const card = await emulator.waitFor(
    () =>
      emulator.calls.find((c) => c.method === 'POST' && c.path.includes(`/messages/${sent.messageId}/reply`)),
    { timeoutMs: 20_000, intervalMs: 1 },
  );
  // The card is live: the run is over when a write carrying the outcome and the answer reaches
  // the emulator (a CardKit update of the card, or a reply / PATCH in the fallback).
  const final = await emulator.waitFor(
    () =>
      emulator.calls.find((c) => {
        if (c.at < t0 || c.status !== 200) return false;
        const body = JSON.stringify(c.body);
        return body.includes('✅ Done') && body.includes(`answer ${i}`);
      }),
    { timeoutMs: 20_000, intervalMs: 1 },
  );
  if (i >= 0) {
    reactions.push(reacted.at - t0);
    firstCards.push(card.at - t0);
    larkcodeTurns.push(final.at - t0);
  }

  mock.enqueue(reply.message(`answer ${i}`));
  const thread = bareCodex.startThread({
    workingDirectory: workspace,
    skipGitRepoCheck: true,
    sandboxMode: 'workspace-write',
    approvalPolicy: 'never',
  });
  const t1 = Date.now();
  const { events } = await thread.runStreamed(`question ${i}`);
  for await (const event of events) if (event.type === 'turn.completed') break;
  if (i >= 0) bareTurns.push(Date.now() - t1);
}
await cleanup();
await stop(larkcode);

const rows = [
  [
    'Cold start (spawn → long connection up)',
    fmt(median(coldStarts)),
    `median of ${coldStarts.length}; max ${fmt(Math.max(...coldStarts))}`,
  ],
  ['Idle memory (RSS of the daemon)', `${idleRssMiB.toFixed(0)} MiB`, 'after connect + 2 s idle'],
  [
    'Event ack latency p50 / p95',
    `${percentile(ackLatencies, 50).toFixed(1)} / ${percentile(ackLatencies, 95).toFixed(1)} ms`,
    `${ackLatencies.length} events; emulator push → ack frame`,
  ],
  [
    'Message → first visible signal (reaction)',
    fmt(median(reactions)),
    `median of ${RUNS}; p95 ${fmt(percentile(reactions, 95))}; emulator push → the OnIt reaction arrives`,
  ],
  [
    'Message → live card appears',
    fmt(median(firstCards)),
    `median of ${RUNS}; includes the ${DEBOUNCE_MS} ms quiet window that merges quick messages`,
  ],
  [
    'Message → card shows the result (message-only turn)',
    fmt(median(larkcodeTurns)),
    `median of ${RUNS}; p95 ${fmt(percentile(larkcodeTurns, 95))}; quiet window included`,
  ],
  ['Bare codex-sdk turn, same mock', fmt(median(bareTurns)), `median of ${RUNS}`],
  [
    'larkcode overhead on a codex turn',
    fmt(median(larkcodeTurns) - DEBOUNCE_MS - median(bareTurns)),
    'difference of medians, quiet window subtracted',
  ],
];
const table = [
  '| figure | value | notes |',
  '|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
process.stdout.write(`${table}\n`);

const docPath = join(ROOT, 'docs/performance.md');
const doc = readFileSync(docPath, 'utf8');
const start = '<!-- bench:skeleton:start -->';
const end = '<!-- bench:skeleton:end -->';
const stamp = `_Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}, by \`npm run bench\`._`;
writeFileSync(
  docPath,
  doc.replace(new RegExp(`${start}[\\s\\S]*${end}`), `${start}\n${stamp}\n\n${table}\n${end}`),
);

await stack.close();
