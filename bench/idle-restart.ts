// Restart with a large idle history: `larkcode start` over 100,000 idle scope records plus a few
// active ones (a message pending when it last stopped).
//   npm run build && node --import tsx bench/idle-restart.ts [--scopes 100000] [--active 10]
// The idle records are laid down directly in the ScopeStore file format (as
// test/store/scope-store-scale.test.ts does); the active ones through ScopeStore itself. Measures
// spawn → "ready" log line, spawn → every restored scope answered (its result card reached the
// emulator as "Done", through the real codex binary against the mock model), and RSS at ready.
// Writes the table into docs/performance.md between the "restart" markers.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolvePaths } from '../src/config/paths.js';
import type { MessageInput } from '../src/core/bridge-input.js';
import { DEFAULT_USER_OPEN_ID } from '../src/playground/emulator/index.js';
import { ScopeStore, scopeFileStem } from '../src/store/scope-store.js';
import { spawnProcess } from '../test/support/processes.js';
import {
  fmtMiB,
  fmtMs,
  machineCpu,
  markdownTable,
  procCpuSeconds,
  procStatusKiB,
  ROOT,
  type Row,
  startBenchStack,
  waitForQuietMachine,
  writeDocSection,
} from './lib.js';

const { values } = parseArgs({
  options: {
    scopes: { type: 'string', default: '100000' },
    active: { type: 'string', default: '10' },
    'no-doc': { type: 'boolean', default: false },
    /** Seconds to wait for the rest of the machine to be quiet (0: measure at once). */
    'quiet-wait': { type: 'string', default: '300' },
  },
});
const IDLE = Number(values.scopes);
const ACTIVE = Number(values.active);
const log = (text: string) => process.stderr.write(`[bench:restart] ${text}\n`);
const BIN = join(ROOT, 'bin/larkcode.js');
if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error('run `npm run build` first');

const stack = await startBenchStack('restart', {
  logLevel: 'info',
  runs: { maxConcurrent: Math.min(64, Math.max(4, ACTIVE)) },
});
const { emulator, home } = stack;

// ------------------------------------------------------------------ the persisted history
const { stateDir } = resolvePaths({ LARKCODE_HOME: home });
const scopesDir = join(stateDir, 'scopes');
mkdirSync(scopesDir, { recursive: true, mode: 0o700 });
const layStarted = Date.now();
const day = 24 * 60 * 60 * 1000;
for (let i = 0; i < IDLE; i++) {
  const scopeId = i % 10 === 0 ? `topic:oc_idle_${i}:omt_${i}` : `chat:oc_idle_${i}`;
  writeFileSync(
    join(scopesDir, `${scopeFileStem(scopeId)}.json`),
    JSON.stringify({
      scopeId,
      sessionId: `019a${i.toString(16).padStart(8, '0')}-0000-7000-8000-000000000000`,
      settings: {},
      pendingInputs: [],
      updatedAt: layStarted - day + i,
    }),
  );
}
// Active scopes: a user message accepted but not yet run when larkcode stopped. The message exists in
// the emulator, so the restored run's card can reply to it.
const store = new ScopeStore(stateDir);
const activeChats: { chatId: string; messageId: string }[] = [];
for (let i = 0; i < ACTIVE; i++) {
  const { chatId } = emulator.createChat({ mode: 'p2p' });
  const text = `[[reply: restored answer ${i}]]`;
  const message = emulator.state.addMessage({
    chatId,
    msgType: 'text',
    content: JSON.stringify({ text }),
    senderId: DEFAULT_USER_OPEN_ID,
    senderType: 'user',
    mentions: [],
  });
  const scopeId = `chat:${chatId}`;
  const input: MessageInput = {
    kind: 'message',
    scopeId,
    messageId: message.messageId,
    actorId: DEFAULT_USER_OPEN_ID,
    chat: { chatId, chatType: 'p2p' },
    text,
    receivedAt: Date.now(),
  };
  store.put({ scopeId, settings: {}, pendingInputs: [input], updatedAt: Date.now() });
  activeChats.push({ chatId, messageId: message.messageId });
}
log(`laid down ${IDLE} idle + ${ACTIVE} active scope records in ${Date.now() - layStarted} ms`);

// ------------------------------------------------------------------ the restart
const othersBefore = await waitForQuietMachine(0.3, Number(values['quiet-wait']) * 1000);
const machine = machineCpu();
const env = { PATH: process.env.PATH, HOME: process.env.HOME, LARKCODE_HOME: home };
const spawnedAt = Date.now();
const larkcode = spawnProcess(process.execPath, ['--max-old-space-size=512', BIN, 'start'], { env }); // as the bin's shebang runs it
const pid = larkcode.child.pid!;
const answeredAt = new Map<string, number>();
/**
 * The restored run's result card: "Done", carrying the mock model's answer to that scope's message
 * (as the user sees it: run cards are CardKit entities, so the message itself holds only a card id).
 */
const findAnswer = (chatId: string, index: number) =>
  emulator
    .view(chatId)
    .find(
      (m) =>
        m.from === 'bot' &&
        m.msgType === 'interactive' &&
        m.text.includes('✅ Done') &&
        m.text.includes(`restored answer ${index}`),
    );
let readyAt = Number.NaN;
let readyRssKiB = Number.NaN;
let restoreLines = 0;
try {
  await larkcode.waitForLine((line) => line.includes('"msg":"ready"'), 30_000);
  readyAt = Date.now();
  readyRssKiB = procStatusKiB(pid, 'VmRSS');
  log(`ready after ${readyAt - spawnedAt} ms, RSS ${fmtMiB(readyRssKiB)}`);
  await emulator.waitFor(
    () => {
      activeChats.forEach(({ chatId }, index) => {
        if (!answeredAt.has(chatId) && findAnswer(chatId, index)) answeredAt.set(chatId, Date.now());
      });
      return answeredAt.size === ACTIVE;
    },
    { timeoutMs: 60_000, intervalMs: 5 },
  );
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  log(`daemon stderr tail:\n${larkcode.stderr.slice(-20).join('\n')}`);
  log(`daemon stdout tail:\n${larkcode.stdout.slice(-20).join('\n')}`);
}
const settledRssKiB = procStatusKiB(pid, 'VmRSS');
const daemonCpuS = procCpuSeconds(pid);
const machineCores = machine();
const windowS = (Date.now() - spawnedAt) / 1000;
const hwmKiB = procStatusKiB(pid, 'VmHWM');
restoreLines = larkcode.stdout.filter((line) => line.includes('"msg":"restoring scope"')).length;
const errorLines = larkcode.stdout.filter((line) => /"level":(50|60)/.test(line)).length;
larkcode.child.kill('SIGTERM');
await larkcode.exited;

// ------------------------------------------------------------------ report
const allAnsweredAt = answeredAt.size === ACTIVE ? Math.max(...answeredAt.values()) : Number.NaN;
const firstAnsweredAt = answeredAt.size ? Math.min(...answeredAt.values()) : Number.NaN;
const rows: Row[] = [
  [
    'Persisted scopes',
    `${IDLE.toLocaleString('en-US')} idle + ${ACTIVE} active`,
    'one JSON file each under state/scopes/ (page cache warm); active = a message pending at the last stop',
  ],
  [
    'Spawn → "ready" log line',
    fmtMs(readyAt - spawnedAt),
    `target ≤ 2 s; ${restoreLines} scopes restored (logged), long connection up`,
  ],
  ['RSS at ready', fmtMiB(readyRssKiB), 'target ≤ 400 MiB'],
  [
    `Spawn → all ${ACTIVE} restored scopes answered`,
    fmtMs(allAnsweredAt - spawnedAt),
    `first at ${fmtMs(firstAnsweredAt - spawnedAt)}; each a real codex turn against the mock model, result card "Done" at the emulator (${answeredAt.size}/${ACTIVE} answered)`,
  ],
  [
    'RSS after the restored runs / peak (VmHWM)',
    `${fmtMiB(settledRssKiB)} / ${fmtMiB(hwmKiB)}`,
    `${errorLines} error lines logged`,
  ],
  [
    'Other processes on the machine',
    `${Math.max(0, machineCores - daemonCpuS / windowS).toFixed(2)} cores`,
    `spawn → all answered, besides the larkcode process (codex children and the emulator/mock included); ${othersBefore.toFixed(2)} cores just before`,
  ],
];
const table = markdownTable(rows);
process.stdout.write(`${table}\n`);
if (!values['no-doc']) writeDocSection('restart', table, `npm run bench:restart -- --scopes ${IDLE}`);

await stack.close();
