// Local Feishu Open Platform emulator for tests: the real @larksuiteoapi/node-sdk talks to it.
import { FeishuEmulator } from './emulator.js';
import type { EmulatorOptions } from './types.js';

export {
  DEFAULT_APP_ID,
  DEFAULT_APP_SECRET,
  DEFAULT_BOT_NAME,
  DEFAULT_BOT_OPEN_ID,
  FeishuEmulator,
  type WaitForOptions,
  waitFor,
} from './emulator.js';
export { LIMITS } from './limits.js';
export { DEFAULT_USER_NAME, DEFAULT_USER_OPEN_ID } from './state.js';
export type * from './types.js';

export async function startFeishuEmulator(opts: EmulatorOptions = {}): Promise<FeishuEmulator> {
  const emulator = new FeishuEmulator(opts);
  await emulator.listen(opts.port ?? 0);
  return emulator;
}
