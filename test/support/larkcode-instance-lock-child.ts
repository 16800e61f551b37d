/**
 * One would-be larkcode for the instance-lock race tests. The file name contains "larkcode" on
 * purpose: a live holder is recognised by its command line, and this child must look like one.
 *
 * Usage: larkcode-instance-lock-child.ts <stateDir> <registryDir> <profile> <appId>
 * Prints `ready`, then answers stdin lines:
 * - `go <epochMs>`: spin until that moment (so all children try within the same millisecond,
 *   not whenever their pipe is read), try to acquire, print `{"won":true}` or
 *   `{"won":false,"message":…}`;
 * - `release`: release the lock if held, print `released`.
 * Exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { acquireInstanceLock, type InstanceLock } from '../../src/runtime/instance-lock.js';

const [stateDir, registryDir, profile, appId] = process.argv.slice(2) as [string, string, string, string];
let lock: InstanceLock | undefined;
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, at] = line.split(' ');
  if (command === 'go') {
    while (Date.now() < Number(at)) {
      // busy-wait: a timer would add milliseconds of jitter
    }
    try {
      lock = acquireInstanceLock({ stateDir, registryDir, profile, appId });
      process.stdout.write(`${JSON.stringify({ won: true })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ won: false, message: (error as Error).message })}\n`);
    }
  } else if (command === 'release') {
    lock?.release();
    lock = undefined;
    process.stdout.write('released\n');
  }
});
lines.on('close', () => {
  lock?.release();
  process.exit(0);
});
process.stdout.write('ready\n');
