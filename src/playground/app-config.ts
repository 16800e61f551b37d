import { DEFAULT_USER_OPEN_ID } from './emulator/index.js';

/**
 * The config.json content that points larkcode at an emulated Feishu app, owned by the
 * emulator's default user — for the playground, the benchmarks and the tests. `values` adds
 * or replaces keys (workspace is required).
 */
export function emulatorAppConfig(
  emulator: { appId: string; appSecret: string; url: string },
  values: { workspace: string } & Record<string, unknown>,
): Record<string, unknown> {
  return {
    appId: emulator.appId,
    appSecret: emulator.appSecret,
    domain: emulator.url,
    owner: DEFAULT_USER_OPEN_ID,
    ...values,
  };
}
