// Standalone emulator for black-box runs:
//   node --import tsx src/playground/emulator/cli.ts [--port N] [--echo-bot-messages] [--no-limits]
// Prints one JSON line {"url","appId","appSecret","botOpenId"} and runs until SIGTERM / SIGINT.
import { startFeishuEmulator } from './index.js';

function argValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

const emulator = await startFeishuEmulator({
  port: Number(argValue('--port') ?? 0),
  pingIntervalSec: argValue('--ping-interval') ? Number(argValue('--ping-interval')) : undefined,
  echoBotMessages: process.argv.includes('--echo-bot-messages'),
  enforceLimits: !process.argv.includes('--no-limits'),
});

process.stdout.write(
  `${JSON.stringify({
    url: emulator.url,
    appId: emulator.appId,
    appSecret: emulator.appSecret,
    botOpenId: emulator.botOpenId,
  })}\n`,
);

const shutdown = () => {
  emulator.close().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
