/**
 * kill -9 at random moments while a child process writes scope records and dedup ids; after
 * each kill the stores must hold everything the child acknowledged.
 *
 * Note: SIGKILL loses the process, not the page cache, so this proves the write protocol
 * (ordering, rename atomicity, marker invariant, torn-journal handling) rather than fsync itself.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DedupLedger } from '../../src/store/dedup-ledger.js';
import { isActiveScope, ScopeStore } from '../../src/store/scope-store.js';
import { TORTURE_SCOPES, tortureRecord } from './fixtures.js';
import { runAndKill } from './kill-writer.js';

const ITERATIONS = 24;
const WRITER = join(import.meta.dirname, 'torture-writer.ts');

describe('kill -9 torture', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'larkcode-torture-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it(`keeps every acknowledged write across ${ITERATIONS} SIGKILLs`, { timeout: 60_000 }, async () => {
    const lastAckedPut = new Map<string, number>();
    const ackedKeys: string[] = [];
    let totalPuts = 0;
    let leftoverTmp = 0;
    const started = performance.now();

    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      const killAfter = 20 + Math.floor(Math.random() * 181);
      const lines = await runAndKill(WRITER, [stateDir, String((iteration + 1) * 1_000_000)], killAfter);
      for (const line of lines) {
        const [word, kind, a, b] = line.split(' ');
        if (word === 'error') throw new Error(line);
        if (word !== 'ack') continue;
        if (kind === 'put') {
          lastAckedPut.set(a!, Number(b));
          totalPuts++;
        } else if (kind === 'dedup') ackedKeys.push(a!);
      }

      // 1. every record file parses; nothing was set aside as corrupt.
      const files = readdirSync(join(stateDir, 'scopes'));
      expect(files.filter((f) => f.endsWith('.corrupt'))).toEqual([]);
      leftoverTmp = files.filter((f) => f.endsWith('.tmp')).length;
      for (const file of files.filter((f) => f.endsWith('.json'))) {
        expect(() => JSON.parse(readFileSync(join(stateDir, 'scopes', file), 'utf8'))).not.toThrow();
      }

      // 2. a fresh store (as at boot): every acked put is there, as that version or a later one
      //    the writer really produced; and listActive finds exactly the active records.
      const store = new ScopeStore(stateDir);
      const active = new Set(store.listActive().map((r) => r.scopeId));
      for (const scopeId of TORTURE_SCOPES) {
        const record = store.get(scopeId);
        const acked = lastAckedPut.get(scopeId);
        if (acked !== undefined) {
          expect(record, `${scopeId} acked ${acked}`).toBeDefined();
          expect(record!.updatedAt).toBeGreaterThanOrEqual(acked);
        }
        if (record) {
          expect(record).toEqual(tortureRecord(scopeId, record.updatedAt));
          expect(active.has(scopeId), `${scopeId} active=${isActiveScope(record)}`).toBe(
            isActiveScope(record),
          );
        } else {
          expect(active.has(scopeId)).toBe(false);
        }
      }

      // 3. every acked dedup id is remembered (either id of the pair).
      const ledger = new DedupLedger(stateDir);
      for (const key of ackedKeys) {
        expect(ledger.firstSighting([key]), key).toBe(false);
        expect(ledger.firstSighting([key.replace('om_', 'ev_')]), key).toBe(false);
      }
      ledger.close();
    }

    const seconds = (performance.now() - started) / 1000;
    console.log(
      `torture: ${ITERATIONS} kills in ${seconds.toFixed(1)} s; acked ${totalPuts} puts, ` +
        `${ackedKeys.length} dedup ids; ${leftoverTmp} .tmp leftovers (harmless)`,
    );
    expect(totalPuts).toBeGreaterThan(ITERATIONS); // the writer really got work done
    expect(ackedKeys.length).toBeGreaterThan(ITERATIONS);
  });
});
