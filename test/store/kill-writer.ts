import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * Run a writer script (`node --import tsx <script> ...args`); once it prints `ready`, SIGKILL it
 * after `killAfterMs`. Resolves with the complete stdout lines it printed before it died.
 */
export function runAndKill(script: string, args: string[], killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.includes('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL' || !out.includes('ready\n')) {
        reject(new Error(`writer exited on its own (code ${code}, ${signal}): ${err || out.slice(-500)}`));
        return;
      }
      // Only complete lines count: the kill may cut the last one.
      resolve(
        out
          .slice(0, out.lastIndexOf('\n') + 1)
          .split('\n')
          .filter((l) => l.length > 0),
      );
    });
  });
}
