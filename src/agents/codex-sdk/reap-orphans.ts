import { readdirSync, readFileSync } from 'node:fs';

/**
 * Codex processes left behind by a previous larkcode that was killed (kill -9, OOM, power
 * button): Node does not take its children down with it, and a leftover codex still holds its
 * thread's single-writer lock, so resuming that thread would fail. One larkcode runs per
 * profile, so at start-up every codex running with this profile's CODEX_HOME that is not our
 * own child is a leftover. Linux only (/proc); elsewhere this finds nothing.
 */
export function findLeftoverCodex(codexHome: string, selfPid = process.pid): number[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const leftovers: number[] = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('codex')) continue;
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === selfPid) continue;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(`CODEX_HOME=${codexHome}`)) leftovers.push(Number(pid));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return leftovers;
}

export function killLeftoverCodex(codexHome: string): number[] {
  const leftovers = findLeftoverCodex(codexHome);
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return leftovers;
}
