/**
 * Child process of the kill -9 torture test: writes forever until killed.
 * Usage: node --import tsx test/store/torture-writer.ts <stateDir> <seqBase>
 * Prints `ready`, then `ack put <scopeId> <seq>` / `ack dedup <key>` after each call returns.
 */
import { writeSync } from 'node:fs';
import { DedupLedger } from '../../src/store/dedup-ledger.js';
import { ScopeStore } from '../../src/store/scope-store.js';
import { TORTURE_SCOPES, tortureRecord } from './fixtures.js';

const [stateDir, base] = process.argv.slice(2);
if (!stateDir || !base) throw new Error('usage: torture-writer.ts <stateDir> <seqBase>');

const say = (line: string) => writeSync(1, `${line}\n`);
const store = new ScopeStore(stateDir, { cacheSize: 16 }); // small cache: exercise re-reads too
const ledger = new DedupLedger(stateDir);
say('ready');

for (let seq = Number(base); ; seq++) {
  const scopeId = TORTURE_SCOPES[Math.floor(Math.random() * TORTURE_SCOPES.length)]!;
  const roll = Math.random();
  if (roll < 0.4) {
    store.put(tortureRecord(scopeId, seq));
    say(`ack put ${scopeId} ${seq}`);
  } else if (roll < 0.6) {
    store.update(scopeId, () => tortureRecord(scopeId, seq));
    say(`ack put ${scopeId} ${seq}`);
  } else {
    const key = `om_${seq}`;
    if (!ledger.firstSighting([key, `ev_${seq}`])) {
      say(`error ${key} was reported as already seen`);
      process.exit(1);
    }
    say(`ack dedup ${key}`);
  }
}
