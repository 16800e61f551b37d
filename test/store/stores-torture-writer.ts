/**
 * Child process of the policy-store kill -9 torture: changes the stores until killed.
 * Usage: node --import tsx test/store/stores-torture-writer.ts <stateDir> <workspaceRoot> <seqBase>
 * Prints `ready`, then for each change `do <json op>` before it starts and `ack` after it returned.
 */
import { writeSync } from 'node:fs';
import { applyOp, openStores, randomOp } from './stores-torture-ops.js';

const [stateDir, workspaceRoot, base] = process.argv.slice(2);
if (!stateDir || !workspaceRoot || !base) {
  throw new Error('usage: stores-torture-writer.ts <stateDir> <workspaceRoot> <seqBase>');
}

// One write(2) per line, on a pipe: a line is either wholly out or not at all when the kill lands.
const say = (line: string) => writeSync(1, `${line}\n`);
const stores = openStores(stateDir);
say('ready');

for (let seq = Number(base); ; seq++) {
  const op = randomOp(seq);
  say(`do ${JSON.stringify(op)}`);
  applyOp(stores, op, workspaceRoot);
  say('ack');
}
