import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditFileSync } from '../../src/audit/audit-log.js';
import { AccessList } from '../../src/store/access-list.js';
import { DedupLedger } from '../../src/store/dedup-ledger.js';
import { RuntimeSettingsStore } from '../../src/store/runtime-settings.js';
import { ScopeStore } from '../../src/store/scope-store.js';
import { SessionCatalog } from '../../src/store/session-catalog.js';
import { WorkspaceAliases } from '../../src/store/workspace-aliases.js';
import type { EmulatorControl } from '../support/feishu-emulator/control-client.js';
import { spawnProcess } from '../support/processes.js';
import type { StackInfo } from '../support/stack.js';
import { LARKCODE_BIN, type StackProcess, startStackProcess } from '../support/stack-process.js';

const ITERATIONS = 6;

/**
 * kill -9 of the real daemon while it writes: commands that change aliases, grants and scope
 * settings arrive in a burst and larkcode is killed at a random moment. After every kill each
 * state file must parse, and every change larkcode confirmed in the chat must be there.
 */
describe('kill -9 of the daemon during writes', () => {
  let stack: StackProcess;
  let info: StackInfo;
  let emulator: EmulatorControl;

  beforeAll(async () => {
    stack = await startStackProcess();
    ({ info, emulator } = stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it(`keeps every confirmed change across ${ITERATIONS} SIGKILLs`, async () => {
    const stateDir = join(info.env.LARKCODE_HOME!, 'state');
    const confirmedAliases = new Set<string>();
    const confirmedUsers = new Set<string>();
    let confirmedTimeout: number | undefined;
    const chat = await emulator.createChat({ mode: 'p2p' });
    let counter = 0;
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      const larkcode = spawnProcess(process.execPath, [LARKCODE_BIN, 'start'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...info.env },
      });
      await larkcode.waitForLine((l) => l.includes('"msg":"ready"'));
      await emulator.waitForClient();
      const sent: { messageId: string; kind: 'alias' | 'user' | 'timeout'; value: string }[] = [];
      const killAt = Date.now() + 80 + Math.floor(Math.random() * 400);
      for (let k = 0; Date.now() < killAt; k++) {
        const alias = `w${iteration}x${k}`;
        const dir = join(info.workspace, alias);
        mkdirSync(dir, { recursive: true });
        const user = `ou_torture${String(iteration).padStart(2, '0')}${String(k).padStart(4, '0')}aaaaaaaaaaaaaaaa`;
        // Strictly increasing over the whole test, so a later value never looks like a lost one.
        const seconds = 100 + counter++;
        const pushes = [
          emulator
            .pushMessage({ chatId: chat.chatId, text: `/ws add ${alias} ${dir}` })
            .then((r) => ({ r, kind: 'alias' as const, value: alias })),
          emulator
            .pushMessage({
              chatId: chat.chatId,
              text: '/invite user @_user_1',
              mentions: [{ openId: user, name: 'T' }],
            })
            .then((r) => ({ r, kind: 'user' as const, value: user })),
          emulator
            .pushMessage({ chatId: chat.chatId, text: `/timeout ${seconds}` })
            .then((r) => ({ r, kind: 'timeout' as const, value: String(seconds) })),
        ];
        for (const pushed of await Promise.all(pushes)) {
          sent.push({ messageId: pushed.r.messageId, kind: pushed.kind, value: pushed.value });
        }
      }
      larkcode.child.kill('SIGKILL');
      await larkcode.exited;

      // What larkcode confirmed in the chat before it died.
      const view = await emulator.view(chat.chatId);
      for (const item of sent) {
        const answer = view.find((m) => m.from === 'bot' && m.parentId === item.messageId);
        if (!answer) continue;
        if (item.kind === 'alias' && answer.text.includes('Added workspace'))
          confirmedAliases.add(item.value);
        if (item.kind === 'user' && answer.text.includes('may now use the bot'))
          confirmedUsers.add(item.value);
        if (item.kind === 'timeout' && answer.text.includes('Idle timeout set to'))
          confirmedTimeout = Number(item.value);
      }

      // Every file parses (the stores validate with zod on open) and holds what was confirmed.
      const aliases = WorkspaceAliases.open(stateDir);
      for (const alias of confirmedAliases) expect(aliases.get(alias), `alias ${alias}`).toBeDefined();
      const access = AccessList.open(stateDir);
      for (const user of confirmedUsers) expect(access.roleOf(user), `user ${user}`).toBe('user');
      SessionCatalog.open(stateDir, {
        onCorrupt: (info) => expect.fail(`sessions.json corrupt: ${info.problem}`),
      });
      RuntimeSettingsStore.open(stateDir);
      const scopes = new ScopeStore(stateDir);
      const record = scopes.get(`chat:${chat.chatId}`);
      if (confirmedTimeout !== undefined) {
        // A later /timeout may have landed without its confirmation: never an older value.
        // No override stored means the profile's 600 s.
        expect(record?.settings.idleTimeoutSec ?? 600).toBeGreaterThanOrEqual(confirmedTimeout);
      }
      await scopes.flush();
      new DedupLedger(stateDir).close();
      expect(readAuditFileSync(join(stateDir, 'audit.jsonl')).records.length).toBeGreaterThan(0);
      expect(
        readdirSync(stateDir, { recursive: true }).filter((f) => String(f).endsWith('.corrupt')),
      ).toEqual([]);
    }
    expect(confirmedAliases.size, 'the bursts were answered at all').toBeGreaterThan(0);
    expect(confirmedUsers.size).toBeGreaterThan(0);
  }, 90_000);
});
