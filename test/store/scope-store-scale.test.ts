/**
 * Scale: a put costs the same with many scopes on disk, and a boot (new store + listActive) reads
 * only the active ones. A full 100k-put run takes ~1 min (two fsyncs per put), so it lives in
 * `test/store/bench-scopes.ts`; here the 100k idle scopes are laid down directly in the documented
 * file format (`scopes/<sha256(scopeId)[0..32]>.json`) without fsync.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ScopeStore, scopeFileStem } from '../../src/store/scope-store.js';
import { idleRecord, pendingRecord } from './fixtures.js';

const IDLE = 100_000;
const ACTIVE = 10;
const PUTS = 3_000;

describe('ScopeStore at scale', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'larkcode-scale-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it(`durable put of ${PUTS} new scopes`, { timeout: 60_000 }, () => {
    const store = new ScopeStore(stateDir);
    const started = performance.now();
    for (let i = 0; i < PUTS; i++) store.put(idleRecord(`chat:put_${i}`, i));
    const ms = performance.now() - started;
    console.log(`scale: ${PUTS} puts in ${ms.toFixed(0)} ms = ${((PUTS / ms) * 1000).toFixed(0)} put/s`);
    expect(new ScopeStore(stateDir).get(`chat:put_${PUTS - 1}`)).toEqual(
      idleRecord(`chat:put_${PUTS - 1}`, PUTS - 1),
    );
  });

  it(`boot + listActive over ${IDLE} idle + ${ACTIVE} active scopes is fast`, { timeout: 60_000 }, () => {
    const layStarted = performance.now();
    const scopesDir = join(stateDir, 'scopes');
    for (let i = 0; i < IDLE; i++) {
      const scopeId = `chat:oc_idle_${i}`;
      writeFileSync(
        join(scopesDir, `${scopeFileStem(scopeId)}.json`),
        JSON.stringify(idleRecord(scopeId, i)),
      );
    }
    const writer = new ScopeStore(stateDir);
    for (let i = 0; i < ACTIVE; i++) writer.put(pendingRecord(`chat:oc_active_${i}`, [`om_${i}`], 1_000 + i));
    console.log(`scale: laid down ${IDLE} idle files in ${(performance.now() - layStarted).toFixed(0)} ms`);

    const started = performance.now();
    const boot = new ScopeStore(stateDir);
    const active = boot.listActive();
    const ms = performance.now() - started;
    console.log(
      `scale: new ScopeStore + listActive over ${IDLE + PUTS} idle + ${ACTIVE} active: ${ms.toFixed(1)} ms`,
    );

    expect(active.map((r) => r.scopeId)).toEqual(
      Array.from({ length: ACTIVE }, (_, i) => `chat:oc_active_${i}`),
    );
    expect(ms).toBeLessThan(250);
    // idle ones are there on demand (the fixture matches the store's format)
    expect(boot.get('chat:oc_idle_77777')).toEqual(idleRecord('chat:oc_idle_77777', 77_777));
    // and a put among 100k files is still a single-file operation
    const putStarted = performance.now();
    for (let i = 0; i < 200; i++) boot.put(idleRecord(`chat:oc_idle_${i}`, -i));
    console.log(`scale: 200 puts among ${IDLE} files: ${(performance.now() - putStarted).toFixed(0)} ms`);
  });
});
