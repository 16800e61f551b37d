/**
 * Bench: node --import tsx test/store/bench-scopes.ts [scopes=100000] [dir]
 * Durable put of N idle scopes + 10 active, then a cold boot (new ScopeStore + listActive), then
 * DedupLedger appends. Prints rates; removes its temp dir unless one was given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DedupLedger } from '../../src/store/dedup-ledger.js';
import { ScopeStore } from '../../src/store/scope-store.js';
import { idleRecord, pendingRecord } from './fixtures.js';

const total = Number(process.argv[2] ?? 100_000);
const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'larkcode-bench-'));
const rate = (n: number, ms: number) => `${((n / ms) * 1000).toFixed(0)}/s`;

const store = new ScopeStore(dir);
let started = performance.now();
for (let i = 0; i < total; i++) {
  store.put(idleRecord(`chat:oc_${i}`, i));
  if ((i + 1) % 10_000 === 0) console.log(`  ${i + 1} puts, ${rate(i + 1, performance.now() - started)}`);
}
const putMs = performance.now() - started;
console.log(`put: ${total} idle scopes in ${(putMs / 1000).toFixed(1)} s = ${rate(total, putMs)}`);

started = performance.now();
for (let i = 0; i < 10; i++) store.put(pendingRecord(`chat:active_${i}`, [`om_${i}`], i));
console.log(`put: 10 active scopes (marker + record) in ${(performance.now() - started).toFixed(1)} ms`);

started = performance.now();
const boot = new ScopeStore(dir);
const active = boot.listActive();
console.log(
  `boot: new ScopeStore + listActive over ${total} idle + 10 active: ${(performance.now() - started).toFixed(1)} ms (${active.length} active)`,
);

started = performance.now();
for (let i = 0; i < 1_000; i++) boot.get(`chat:oc_${(i * 7919) % total}`);
console.log(`get: 1000 cold reads in ${(performance.now() - started).toFixed(1)} ms`);

const ledger = new DedupLedger(dir);
const appends = 5_000;
started = performance.now();
for (let i = 0; i < appends; i++) ledger.firstSighting([`om_${i}`, `ev_${i}`]);
const appendMs = performance.now() - started;
console.log(
  `dedup: ${appends} firstSighting (2 new ids, 1 append + fsync each) = ${rate(appends, appendMs)}`,
);
started = performance.now();
for (let i = 0; i < appends; i++) ledger.firstSighting([`om_${i}`]);
console.log(
  `dedup: ${appends} repeat sightings (memory only) = ${rate(appends, performance.now() - started)}`,
);
ledger.close();
started = performance.now();
new DedupLedger(dir).close();
console.log(`dedup: reopen with ${appends * 2} ids in ${(performance.now() - started).toFixed(1)} ms`);

if (process.argv[3] === undefined) rmSync(dir, { recursive: true, force: true });
