import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ScopeRecord, ScopeStore, scopeFileStem } from '../../src/store/scope-store.js';
import { idleRecord, message, pendingRecord } from './fixtures.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-scopes-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const recordFile = (scopeId: string) => join(stateDir, 'scopes', `${scopeFileStem(scopeId)}.json`);
const markerFile = (scopeId: string) => join(stateDir, 'scopes-active', scopeFileStem(scopeId));
const activeIds = (store: ScopeStore) => store.listActive().map((r) => r.scopeId);

describe('ScopeStore', () => {
  it('round-trips every field, across a reopen', () => {
    const record: ScopeRecord = {
      scopeId: 'topic:oc_1:omt_1',
      sessionId: 'thread-1',
      settings: { idleTimeoutSec: 600, debounceMs: 250 },
      pendingInputs: [message('topic:oc_1:omt_1', 'om_1'), message('topic:oc_1:omt_1', 'om_2', '中文 ✓')],
      inflight: {
        runId: 'run-1',
        inputs: [message('topic:oc_1:omt_1', 'om_0')],
        startedAt: 5,
        cardMessageId: 'om_card',
      },
      updatedAt: 42,
    };
    new ScopeStore(stateDir).put(record);
    const reopened = new ScopeStore(stateDir);
    expect(reopened.get(record.scopeId)).toEqual(record);
    expect(reopened.get('chat:unknown')).toBeUndefined();
  });

  it('names files sha256(scopeId)[0..32].json', () => {
    new ScopeStore(stateDir).put(idleRecord('chat:oc_a'));
    expect(readdirSync(join(stateDir, 'scopes'))).toEqual([`${scopeFileStem('chat:oc_a')}.json`]);
    expect(scopeFileStem('chat:oc_a')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('hands out copies: mutating a result does not change the store', () => {
    const store = new ScopeStore(stateDir);
    store.put(pendingRecord('chat:oc_a', ['om_1']));
    store.get('chat:oc_a')!.pendingInputs.push(message('chat:oc_a', 'om_x'));
    expect(store.get('chat:oc_a')!.pendingInputs).toHaveLength(1);
  });

  it('skips the write when nothing changed', () => {
    const store = new ScopeStore(stateDir);
    store.put(pendingRecord('chat:oc_a', ['om_1'], 7));
    const before = statSync(recordFile('chat:oc_a')).ino;
    store.put(pendingRecord('chat:oc_a', ['om_1'], 7));
    expect(statSync(recordFile('chat:oc_a')).ino).toBe(before); // a rewrite would be a new inode
    store.put(pendingRecord('chat:oc_a', ['om_1', 'om_2'], 7));
    expect(statSync(recordFile('chat:oc_a')).ino).not.toBe(before);
  });

  it('creates and removes the active marker with the record', () => {
    const store = new ScopeStore(stateDir);
    const id = 'chat:oc_a';
    store.put(idleRecord(id));
    expect(existsSync(markerFile(id))).toBe(false);
    store.put(pendingRecord(id, ['om_1']));
    expect(existsSync(markerFile(id))).toBe(true);
    store.put({ ...idleRecord(id), inflight: { runId: 'r', inputs: [message(id, 'om_1')] } });
    expect(existsSync(markerFile(id))).toBe(true);
    expect(activeIds(store)).toEqual([id]);
    store.put(idleRecord(id, 9));
    expect(existsSync(markerFile(id))).toBe(false);
    expect(activeIds(new ScopeStore(stateDir))).toEqual([]);
  });

  it('update: get-or-empty, apply, put; stamps updatedAt only on a real change', () => {
    let now = 1_000;
    const store = new ScopeStore(stateDir, { now: () => now });
    const id = 'chat:oc_u';
    const unchanged = store.update(id, (r) => r);
    expect(unchanged).toEqual({ scopeId: id, settings: {}, pendingInputs: [], updatedAt: 0 });
    expect(store.get(id)).toBeUndefined(); // an untouched empty record is not persisted

    const first = store.update(id, (r) => {
      r.pendingInputs.push(message(id, 'om_1'));
      return r;
    });
    expect(first.updatedAt).toBe(1_000);
    now = 2_000;
    store.update(id, (r) => r);
    expect(store.get(id)!.updatedAt).toBe(1_000);
    store.update(id, (r) => ({ ...r, sessionId: 's', updatedAt: 1_500 })); // explicit stamp wins
    expect(new ScopeStore(stateDir).get(id)).toMatchObject({ sessionId: 's', updatedAt: 1_500 });
    expect(activeIds(store)).toEqual([id]);
    expect(() => store.update(id, (r) => ({ ...r, scopeId: 'chat:other' }))).toThrow(/chat:other/);
  });

  it('delete removes record and marker', () => {
    const store = new ScopeStore(stateDir);
    store.put(pendingRecord('chat:oc_d', ['om_1']));
    store.delete('chat:oc_d');
    store.delete('chat:never');
    expect(store.get('chat:oc_d')).toBeUndefined();
    expect(readdirSync(join(stateDir, 'scopes'))).toEqual([]);
    expect(readdirSync(join(stateDir, 'scopes-active'))).toEqual([]);
    expect(new ScopeStore(stateDir).get('chat:oc_d')).toBeUndefined();
  });

  it('listActive: oldest first, active only, idle scopes never listed', () => {
    const store = new ScopeStore(stateDir);
    store.put(pendingRecord('chat:b', ['om_1'], 20));
    store.put(idleRecord('chat:idle'));
    store.put({ ...idleRecord('chat:a', 10), inflight: { runId: 'r', inputs: [] } });
    expect(activeIds(new ScopeStore(stateDir))).toEqual(['chat:a', 'chat:b']);
  });

  describe('after a half-finished transition (crash between the two steps)', () => {
    it('skips and removes a marker whose record says inactive', () => {
      const store = new ScopeStore(stateDir);
      store.put(idleRecord('chat:stale'));
      writeFileSync(markerFile('chat:stale'), ''); // record written idle, marker not yet removed
      store.put(pendingRecord('chat:live', ['om_1']));
      const boot = new ScopeStore(stateDir);
      expect(activeIds(boot)).toEqual(['chat:live']);
      expect(existsSync(markerFile('chat:stale'))).toBe(false);
      expect(boot.get('chat:stale')).toEqual(idleRecord('chat:stale'));
    });

    it('skips and removes a marker whose record is missing', () => {
      const store = new ScopeStore(stateDir);
      store.put(pendingRecord('chat:new', ['om_1']));
      unlinkSync(recordFile('chat:new')); // marker created, record never written
      const boot = new ScopeStore(stateDir);
      expect(activeIds(boot)).toEqual([]);
      expect(readdirSync(join(stateDir, 'scopes-active'))).toEqual([]);
      // the scope still works afterwards, marker and all
      boot.put(pendingRecord('chat:new', ['om_2']));
      expect(activeIds(new ScopeStore(stateDir)).length).toBe(1);
    });

    it('a missing marker for an active record is restored by the next put', () => {
      const store = new ScopeStore(stateDir);
      store.put(pendingRecord('chat:x', ['om_1']));
      unlinkSync(markerFile('chat:x')); // e.g. removed by hand
      const boot = new ScopeStore(stateDir);
      boot.put(pendingRecord('chat:x', ['om_1'])); // unchanged content, but the marker is restored
      expect(existsSync(markerFile('chat:x'))).toBe(true);
    });

    it('ignores foreign files in scopes-active and leftover temp files', () => {
      const store = new ScopeStore(stateDir);
      store.put(pendingRecord('chat:a', ['om_1']));
      writeFileSync(join(stateDir, 'scopes-active', 'README'), 'x');
      writeFileSync(`${recordFile('chat:a')}.tmp`, '{"torn');
      const boot = new ScopeStore(stateDir);
      expect(activeIds(boot)).toEqual(['chat:a']);
      boot.put(pendingRecord('chat:a', ['om_1', 'om_2']));
      expect(new ScopeStore(stateDir).get('chat:a')!.pendingInputs).toHaveLength(2);
    });
  });

  it('renames a corrupt record aside (.corrupt) and treats it as missing', () => {
    const store = new ScopeStore(stateDir);
    store.put(pendingRecord('chat:c', ['om_1']));
    writeFileSync(recordFile('chat:c'), '{"scopeId": "chat:c", "pend');
    const boot = new ScopeStore(stateDir);
    expect(activeIds(boot)).toEqual([]);
    expect(boot.get('chat:c')).toBeUndefined();
    expect(readdirSync(join(stateDir, 'scopes'))).toEqual([`${scopeFileStem('chat:c')}.json.corrupt`]);
    // a second corruption does not overwrite the first one kept aside
    boot.put(idleRecord('chat:c'));
    writeFileSync(recordFile('chat:c'), '[]');
    expect(new ScopeStore(stateDir).get('chat:c')).toBeUndefined();
    expect(readdirSync(join(stateDir, 'scopes')).filter((f) => f.includes('.corrupt'))).toHaveLength(2);
  });

  it('rejects a malformed record on put', () => {
    const store = new ScopeStore(stateDir);
    expect(() => store.put({ scopeId: 'chat:x' } as unknown as ScopeRecord)).toThrow(TypeError);
    expect(() => store.put(idleRecord(''))).toThrow(TypeError);
  });

  it('LRU bound: evicted records are re-read from disk, nothing is lost', () => {
    const store = new ScopeStore(stateDir, { cacheSize: 10 });
    const ids = Array.from({ length: 200 }, (_, i) => `chat:oc_${i}`);
    for (const [i, id] of ids.entries())
      store.put(i % 3 ? idleRecord(id, i) : pendingRecord(id, [`om_${i}`], i));
    // update records that were long evicted: the change applies to the on-disk version
    store.update('chat:oc_0', (r) => ({
      ...r,
      pendingInputs: [...r.pendingInputs, message(r.scopeId, 'om_more')],
    }));
    for (const [i, id] of ids.entries()) {
      const got = store.get(id)!;
      expect(got.updatedAt === i || id === 'chat:oc_0').toBe(true);
      expect(got.pendingInputs.length).toBe(i === 0 ? 2 : i % 3 ? 0 : 1);
    }
    expect(store.listActive()).toHaveLength(67);
    expect(new ScopeStore(stateDir).listActive()).toHaveLength(67);
  });
});
