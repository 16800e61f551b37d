import { readdirSync, readFileSync } from 'node:fs';
import { codexProcesses } from '../../src/agents/codex-sdk/reap-orphans.js';

/** Live descendants of a process whose command name starts with `name` (Linux /proc). */
export function descendantsNamed(rootPid: number, name: string): number[] {
  const parents = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie is already dead
      parents.set(Number(entry), Number(fields[1]));
      names.set(Number(entry), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // exited meanwhile
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p))
      if (p === rootPid) return true;
    return false;
  };
  return [...names].filter(([pid, comm]) => comm.startsWith(name) && isDescendant(pid)).map(([pid]) => pid);
}

/** Every live process named codex… with this CODEX_HOME in its environment. */
export function codexProcessesFor(codexHome: string): number[] {
  return codexProcesses(codexHome).map((process) => process.pid);
}
