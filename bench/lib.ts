// Small helpers shared by the benchmarks: percentiles, /proc readings, and the docs/performance.md writer.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { emulatorAppConfig } from '../src/playground/app-config.js';
import { startFeishuEmulator } from '../src/playground/emulator/index.js';
import { startMockModel } from '../src/playground/mock-model/index.js';
import { codexProviderConfig } from '../test/support/codex-harness.js';

export const ROOT = resolve(import.meta.dirname, '..');

/** Nearest-rank percentile (p in 0..100); NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${Math.round(ms)} ms` : 'n/a');
export const fmtMiB = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const CLK_TCK = 100;

/** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces; everything after the last ')' is space-separated from field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

/** A `Vm*` figure from /proc/<pid>/status in KiB (VmRSS, VmHWM, …); NaN when absent. */
export function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
  } catch {
    return Number.NaN;
  }
}

export type Row = [figure: string, value: string, notes: string];

export function markdownTable(rows: readonly Row[]): string {
  return ['| figure | value | notes |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );
}

/** Replace the text between `<!-- bench:<name>:start -->` and `…:end -->` in docs/performance.md. */
export function writeDocSection(name: string, body: string, command: string): void {
  const docPath = join(ROOT, 'docs/performance.md');
  const doc = readFileSync(docPath, 'utf8');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  if (!doc.includes(start) || !doc.includes(end)) {
    process.stderr.write(`docs/performance.md has no ${start} … ${end} section; not written\n`);
    return;
  }
  const stamp = `_Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}, by \`${command}\`._`;
  const section = `${start}\n${stamp}\n\n${body}\n${end}`;
  writeFileSync(
    docPath,
    doc.replace(new RegExp(`${start}[\\s\\S]*${end}`), () => section),
  );
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Start measuring machine-wide CPU; the returned function gives busy cores since then. */
export function machineCpu(): () => number {
  const start = machineJiffies();
  const startedAt = Date.now();
  return () => {
    const end = machineJiffies();
    return (end.busy - start.busy) / CLK_TCK / ((Date.now() - startedAt) / 1000);
  };
}

/**
 * Benchmarks share this machine with other work: wait (up to `maxWaitMs`) until the rest of the
 * machine uses less than `maxBusyCores` over a 2 s sample. Returns the last sample.
 */
export async function waitForQuietMachine(maxBusyCores = 0.3, maxWaitMs = 300_000): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const busy = machineCpu();
    await new Promise((r) => setTimeout(r, 2000));
    const cores = busy();
    if (cores < maxBusyCores) return cores;
    if (Date.now() > deadline) {
      process.stderr.write(
        `machine still busy (${cores.toFixed(2)} cores in use by others); measuring anyway\n`,
      );
      return cores;
    }
    process.stderr.write(`machine busy (${cores.toFixed(2)} cores in use by others); waiting…\n`);
  }
}

/**
 * What every process-level benchmark starts from: a Feishu emulator, a mock model, and a
 * LARKCODE_HOME whose config.json points larkcode at both (owner = the emulator's default user).
 */
export async function startBenchStack(name: string, config: Record<string, unknown> = {}) {
  const emulator = await startFeishuEmulator();
  const mock = await startMockModel();
  const home = await mkdtemp(join(tmpdir(), `larkcode-bench-${name}-home-`));
  const workspace = await mkdtemp(join(tmpdir(), `larkcode-bench-${name}-ws-`));
  writeFileSync(
    join(home, 'config.json'),
    JSON.stringify(
      emulatorAppConfig(emulator, {
        workspace,
        codex: { config: codexProviderConfig(mock.baseUrl), apiKey: 'sk-bench' },
        ...config,
      }),
    ),
  );
  return {
    emulator,
    mock,
    home,
    workspace,
    /** larkcode as its bin runs it (the shebang's heap limit included). */
    larkcodeArgs: ['--max-old-space-size=512', join(ROOT, 'bin/larkcode.js'), 'start'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LARKCODE_HOME: home },
    async close() {
      await mock.close();
      await emulator.close();
      await rm(home, { recursive: true, force: true });
      await rm(workspace, { recursive: true, force: true });
    },
  };
}
