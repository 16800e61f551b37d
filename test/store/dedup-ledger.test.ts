import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_DEDUP_TTL_MS, DedupLedger } from '../../src/store/dedup-ledger.js';

let stateDir: string;
const open: DedupLedger[] = [];
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'larkcode-dedup-'));
});
afterEach(() => {
  for (const ledger of open.splice(0)) ledger.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function ledger(ttlMs?: number, now?: () => number): DedupLedger {
  const l = new DedupLedger(stateDir, ttlMs, now);
  open.push(l);
  return l;
}
const journal = () => join(stateDir, 'dedup.jsonl');
const journalLines = () =>
  readFileSync(journal(), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);

describe('DedupLedger', () => {
  it('first sighting true, second false', () => {
    const l = ledger();
    expect(l.firstSighting(['om_1', 'ev_1'])).toBe(true);
    expect(l.firstSighting(['om_1', 'ev_1'])).toBe(false);
    expect(l.firstSighting(['om_2'])).toBe(true);
    expect(DEFAULT_DEDUP_TTL_MS).toBe(24 * 60 * 60 * 1000);
  });

  it('either key of a pair catches the other; a new partner id is remembered too', () => {
    const l = ledger();
    expect(l.firstSighting(['om_1', 'ev_1'])).toBe(true);
    expect(l.firstSighting(['ev_1'])).toBe(false);
    expect(l.firstSighting(['om_1', 'ev_redelivery'])).toBe(false);
    expect(l.firstSighting(['ev_redelivery'])).toBe(false);
  });

  it('ignores empty keys', () => {
    const l = ledger();
    expect(l.firstSighting(['', 'om_1'])).toBe(true);
    expect(l.firstSighting([''])).toBe(true); // nothing to dedup on
    expect(l.firstSighting(['', 'om_1'])).toBe(false);
  });

  it('survives a reopen (journal, one line per new key)', () => {
    const a = ledger();
    a.firstSighting(['om_1', 'ev_1']);
    a.firstSighting(['om_1', 'ev_1']);
    a.close();
    expect(journalLines()).toHaveLength(2);
    expect(JSON.parse(journalLines()[0]!)).toMatchObject({ k: 'om_1', t: expect.any(Number) });
    const b = ledger();
    expect(b.firstSighting(['ev_1'])).toBe(false);
    expect(b.firstSighting(['om_1'])).toBe(false);
  });

  it('forgets ids after the TTL, in memory and on reopen', () => {
    let now = 1_000_000;
    const a = ledger(10_000, () => now);
    a.firstSighting(['om_old']);
    now += 6_000;
    a.firstSighting(['om_new']);
    now += 5_000; // om_old is 11 s old, om_new 5 s
    expect(a.firstSighting(['om_new'])).toBe(false);
    expect(a.firstSighting(['om_old'])).toBe(true); // expired → a new sighting
    a.close();
    now += 6_000; // om_new expired, om_old (re-seen 6 s ago) live
    const b = ledger(10_000, () => now);
    expect(b.firstSighting(['om_old'])).toBe(false);
    expect(b.firstSighting(['om_new'])).toBe(true);
  });

  it('tolerates a torn last line (crash mid-append) and keeps appending cleanly', () => {
    const a = ledger();
    a.firstSighting(['om_1']);
    a.firstSighting(['om_2']);
    a.close();
    appendFileSync(journal(), '{"k":"om_3","t":17'); // no newline: torn
    const b = ledger();
    expect(b.firstSighting(['om_1'])).toBe(false);
    expect(b.firstSighting(['om_2'])).toBe(false);
    expect(b.firstSighting(['om_4'])).toBe(true);
    b.close();
    expect(readFileSync(journal(), 'utf8').endsWith('\n')).toBe(true);
    for (const line of journalLines()) expect(() => JSON.parse(line)).not.toThrow();
    const c = ledger();
    expect(c.firstSighting(['om_4'])).toBe(false);
    expect(c.firstSighting(['om_1'])).toBe(false);
  });

  it('skips garbage lines anywhere (e.g. zero-filled tail after power loss)', () => {
    writeFileSync(
      journal(),
      `{"k":"om_1","t":${Date.now()}}\nnot json\n\0\0\0\0\n{"k":"om_2","t":${Date.now()}}\n`,
    );
    const l = ledger();
    expect(l.firstSighting(['om_1'])).toBe(false);
    expect(l.firstSighting(['om_2'])).toBe(false);
    expect(journalLines()).toHaveLength(2); // compacted at construction
  });

  it('compaction at construction keeps live keys and drops expired and duplicate ones', () => {
    const now = 5_000_000;
    const lines = [
      { k: 'om_expired', t: now - 20_000 },
      { k: 'om_live', t: now - 5_000 },
      { k: 'om_dup', t: now - 30_000 },
      { k: 'om_dup', t: now - 1_000 }, // re-seen after expiring: the newer time wins
    ];
    writeFileSync(journal(), lines.map((l) => JSON.stringify(l) + '\n').join(''));
    const l = ledger(10_000, () => now);
    const kept = journalLines().map((line) => JSON.parse(line) as { k: string; t: number });
    expect(kept).toEqual([
      { k: 'om_live', t: now - 5_000 },
      { k: 'om_dup', t: now - 1_000 },
    ]);
    expect(l.firstSighting(['om_live'])).toBe(false);
    expect(l.firstSighting(['om_dup'])).toBe(false);
    expect(l.firstSighting(['om_expired'])).toBe(true);
  });

  it('compacts while running once the journal holds > 2× the live ids; bounded file size', () => {
    let now = 0;
    const l = ledger(1_000, () => now);
    for (let i = 0; i < 6_000; i++) {
      now += 1; // ~1,000 live ids at any time
      expect(l.firstSighting([`om_${i}`])).toBe(true);
    }
    const lines = journalLines().length;
    expect(lines).toBeLessThanOrEqual(2_100);
    expect(lines).toBeGreaterThanOrEqual(1_000);
    l.close();
    const reopened = ledger(1_000, () => now);
    expect(reopened.firstSighting(['om_5999'])).toBe(false);
    expect(reopened.firstSighting(['om_5000'])).toBe(false);
    expect(reopened.firstSighting(['om_4000'])).toBe(true);
  });

  it('imports the legacy conf ledger (dedup-ledger.json) once', () => {
    writeFileSync(
      join(stateDir, 'dedup-ledger.json'),
      JSON.stringify({ om_legacy: Date.now(), om_ancient: Date.now() - 2 * DEFAULT_DEDUP_TTL_MS }),
    );
    const l = ledger();
    expect(existsSync(join(stateDir, 'dedup-ledger.json'))).toBe(false);
    expect(l.firstSighting(['om_legacy'])).toBe(false);
    expect(l.firstSighting(['om_ancient'])).toBe(true);
    l.close();
    expect(ledger().firstSighting(['om_legacy'])).toBe(false);
  });

  it('refuses to record after close()', () => {
    const l = ledger();
    l.close();
    l.close(); // idempotent
    expect(() => l.firstSighting(['om_1'])).toThrow(/closed/);
  });
});
