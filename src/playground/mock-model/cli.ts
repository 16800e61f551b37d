// Standalone mock model for other processes (e.g. a larkcode daemon under test):
//   node --import tsx src/playground/mock-model/cli.ts [--port N]
// Prints one JSON line {"baseUrl": ...} once listening; script it via POST /_mock/enqueue.
import { parseArgs } from 'node:util';
import { startMockModel } from './server.js';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = values.port === undefined ? 0 : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}

const mock = await startMockModel({ port });
process.stdout.write(`${JSON.stringify({ baseUrl: mock.baseUrl })}\n`);

async function shutdown(): Promise<void> {
  await mock.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
