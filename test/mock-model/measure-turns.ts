// Wall time of real codex turns against the mock (runStreamed → turn.completed), median of N.
//   node --import tsx test/mock-model/measure-turns.ts [runs]
import { collectTurn } from '../support/codex-harness.js';
import { reply, type ScriptedTurn, startMockModel } from '../support/mock-model/index.js';
import { setupCodexRun, turnGuard } from './fixture.js';

const runs = Number(process.argv[2] ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function measure(label: string, script: () => ScriptedTurn[]): Promise<void> {
  const mock = await startMockModel();
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const run = await setupCodexRun(mock);
      try {
        mock.enqueue(...script());
        const turn = await collectTurn(run.startThread(), `measure ${label} ${i}`, { signal: turnGuard() });
        if (!turn.completed || turn.turnMs === undefined)
          throw new Error(`${label} run ${i} did not complete`);
        times.push(turn.turnMs);
      } finally {
        await run.cleanup();
      }
    }
  } finally {
    await mock.close();
  }
  const shown = times.map((ms) => Math.round(ms)).join(', ');
  process.stdout.write(`${label}: median ${Math.round(median(times))} ms (runs: ${shown})\n`);
}

await measure('message-only', () => [reply.message('ok')]);
await measure('shell + message', () => [reply.shell('echo hi > out.txt'), reply.message('done')]);
