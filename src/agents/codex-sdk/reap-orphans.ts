import { readdirSync, readFileSync } from 'node:fs';

/**
 * Codex processes left behind by a previous larkcode that was killed (kill -9, OOM, power
 * button): Node does not take its children down with it, and a leftover codex still holds its
 * thread's single-writer lock, so resuming that thread would fail. One larkcode runs per
 * profile, so at start-up every codex running with this profile's CODEX_HOME that is not our
 * own child is a leftover. Linux only (/proc); elsewhere this finds nothing.
 */
export function findLeftoverCodex(codexHome: string, selfPid = process.pid): number[] {
  return codexProcesses(codexHome)
    .filter((process) => process.ppid !== selfPid)
    .map((process) => process.pid);
}

/** Every live (not zombie) process named codex… with this CODEX_HOME in its environment. */
export function codexProcesses(codexHome: string): { pid: number; ppid: number }[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const found: { pid: number; ppid: number }[] = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('codex')) continue;
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue; // already dead, waiting to be reaped
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(`CODEX_HOME=${codexHome}`)) found.push({ pid: Number(pid), ppid: Number(ppid) });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
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
