// The black-box stack: a Feishu emulator and a mock model in this process, and a
// LARKCODE_HOME with a config.json pointing codex at the mock. Then, in another shell:
//
//   node --import tsx test/support/stack.ts [--home DIR] [--workspace DIR]
//   # prints one JSON line: { env, emulatorUrl, mockBaseUrl, workspace, ownerOpenId }
//   env $(…env as KEY=VALUE…) larkcode start
//
// Drive it through the emulator's /_emu/ and the mock's /_mock/ control APIs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { codexProviderConfig } from './codex-harness.js';
import { DEFAULT_USER_OPEN_ID, startFeishuEmulator } from './feishu-emulator/index.js';
import { startMockModel } from './mock-model/index.js';

export interface StackInfo {
  emulatorUrl: string;
  mockBaseUrl: string;
  workspace: string;
  ownerOpenId: string;
  /** What `larkcode start` needs: LARKCODE_HOME plus the FEISHU_* overrides. */
  env: Record<string, string>;
}

const { values } = parseArgs({ options: { home: { type: 'string' }, workspace: { type: 'string' } } });
const home = values.home ?? (await mkdtemp(join(tmpdir(), 'larkcode-blackbox-home-')));
const workspace = values.workspace ?? (await mkdtemp(join(tmpdir(), 'larkcode-blackbox-ws-')));
mkdirSync(home, { recursive: true });
mkdirSync(workspace, { recursive: true });

const emulator = await startFeishuEmulator();
const mock = await startMockModel();
// App credentials deliberately not in the file: they arrive through FEISHU_* env overrides.
writeFileSync(
  join(home, 'config.json'),
  `${JSON.stringify(
    {
      workspace,
      owner: DEFAULT_USER_OPEN_ID,
      codex: { config: codexProviderConfig(mock.baseUrl), apiKey: 'sk-blackbox' },
    },
    null,
    2,
  )}\n`,
);

const info: StackInfo = {
  emulatorUrl: emulator.url,
  mockBaseUrl: mock.baseUrl,
  workspace,
  ownerOpenId: DEFAULT_USER_OPEN_ID,
  env: {
    LARKCODE_HOME: home,
    // Each stack is its own emulated app: its own registry of running larkcode processes.
    LARKCODE_RUNTIME_DIR: join(home, 'run'),
    FEISHU_APP_ID: emulator.appId,
    FEISHU_APP_SECRET: emulator.appSecret,
    FEISHU_DOMAIN: emulator.url,
  },
};
process.stdout.write(`${JSON.stringify(info)}\n`);

const shutdown = async () => {
  await mock.close();
  await emulator.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
