import { join, resolve } from 'node:path';
import { connectEmulatorControl, type EmulatorControl } from './feishu-emulator/control-client.js';
import { type Spawned, spawnProcess } from './processes.js';
import type { StackInfo } from './stack.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const LARKCODE_BIN = join(ROOT, 'bin/larkcode.js');

export interface StackProcess {
  info: StackInfo;
  emulator: EmulatorControl;
  close(): Promise<void>;
}

/** The black-box stack (emulator + mock model + LARKCODE_HOME) in its own process. */
export async function startStackProcess(): Promise<StackProcess> {
  const stack: Spawned = spawnProcess(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/support/stack.ts')],
    {
      cwd: ROOT,
    },
  );
  const info = JSON.parse(await stack.waitForLine((l) => l.startsWith('{'))) as StackInfo;
  return {
    info,
    emulator: connectEmulatorControl(info.emulatorUrl),
    close: async () => {
      stack.child.kill('SIGTERM');
      await stack.exited;
    },
  };
}

/** Only what a person's shell would have, plus the stack's LARKCODE_HOME and FEISHU_* overrides. */
export function shellEnv(info: StackInfo, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...info.env, ...extra };
}
