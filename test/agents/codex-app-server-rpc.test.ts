// JsonRpcClient against a scripted stdio peer (a small Node child): framing over split chunks,
// notifications, server requests answered later, timeouts, a dying peer and close().
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  JsonRpcClient,
  RpcClosedError,
  RpcError,
  RpcTimeoutError,
} from '../../src/agents/codex-app-server/rpc.js';

/** The peer: answers `echo` in two chunks split mid-object (mid-character), asks the client on `ask`, never answers `hang`. */
const peer = `
const stubborn = process.argv.includes('stubborn');
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const waiting = new Map();
let chain = Promise.resolve();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf('\\n')) !== -1) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    let m; try { m = JSON.parse(line); } catch { continue; }
    if (m.method === undefined) { const back = waiting.get(m.id); if (back) back(m); continue; }
    if (m.method === 'initialized') { out({ method: 'seen', params: { initialized: true } }); continue; }
    if (m.method === 'echo') {
      // Split inside the first multi-byte character if there is one, else after 7 bytes.
      const bytes = Buffer.from(JSON.stringify({ id: m.id, result: m.params }) + '\\n');
      const wide = bytes.findIndex((b) => b >= 0x80);
      const cut = wide === -1 ? 7 : wide + 1;
      chain = chain
        .then(() => process.stdout.write(bytes.subarray(0, cut)))
        .then(() => new Promise((r) => setTimeout(r, 20)))
        .then(() => process.stdout.write(bytes.subarray(cut)));
    } else if (m.method === 'notify') {
      process.stdout.write('not json at all\\n' + JSON.stringify({ method: 'n/one', params: { k: 1 } }) + '\\n'
        + JSON.stringify({ method: 'n/two', params: { k: 2 } }) + '\\n');
      out({ id: m.id, result: 'sent' });
    } else if (m.method === 'ask') {
      waiting.set(7, (reply) => out({ id: m.id, result: reply }));
      out({ id: 7, method: 'approve', params: { what: m.params } });
    } else if (m.method === 'fail') {
      out({ id: m.id, error: { code: -32600, message: 'no active turn to steer' } });
    } else if (m.method === 'die') {
      process.stderr.write('fatal: boom\\n');
      process.exit(3);
    }
  }
});
process.stdin.on('end', () => { if (!stubborn) process.exit(0); });
setInterval(() => {}, 1000);
`;

describe('JsonRpcClient', () => {
  const clients: JsonRpcClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close(200)));
  });

  function start(...args: string[]): JsonRpcClient {
    const child = spawn(process.execPath, ['-e', peer, '--', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }) as ChildProcessWithoutNullStreams;
    const client = new JsonRpcClient(child, { label: 'test peer', requestTimeoutMs: 2_000 });
    clients.push(client);
    return client;
  }

  it('matches answers to requests, across chunks split mid-message', async () => {
    const client = start();
    const answers = await Promise.all([
      client.request('echo', { n: 1, text: 'é ✓' }),
      client.request('echo', { n: 2 }),
    ]);
    expect(answers).toEqual([{ n: 1, text: 'é ✓' }, { n: 2 }]);
  });

  it('delivers notifications (skipping lines that are not JSON) and sends them', async () => {
    const client = start();
    const seen: [string, unknown][] = [];
    client.onNotification((method, params) => seen.push([method, params]));
    expect(await client.request('notify')).toBe('sent');
    client.notify('initialized');
    await expect.poll(() => seen.length).toBe(3);
    expect(seen).toEqual([
      ['n/one', { k: 1 }],
      ['n/two', { k: 2 }],
      ['seen', { initialized: true }],
    ]);
  });

  it('answers a server request with whatever its handler resolves, however late', async () => {
    const client = start();
    client.setServerRequestHandler(async (method, params, id) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { decision: 'accept', method, params, id };
    });
    expect(await client.request('ask', 'rm -rf build')).toEqual({
      id: 7,
      result: { decision: 'accept', method: 'approve', params: { what: 'rm -rf build' }, id: 7 },
    });
  });

  it('sends a handler that throws back as a JSON-RPC error', async () => {
    const client = start();
    client.setServerRequestHandler(() => {
      throw new Error('not now');
    });
    expect(await client.request('ask', 'x')).toEqual({ id: 7, error: { code: -32603, message: 'not now' } });
  });

  it('rejects with RpcError, or RpcTimeoutError when nothing comes back', async () => {
    const client = start();
    const failed = await client.request('fail').catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(RpcError);
    expect(failed).toMatchObject({ message: 'no active turn to steer', code: -32600, method: 'fail' });
    await expect(client.request('hang', undefined, { timeoutMs: 50 })).rejects.toBeInstanceOf(
      RpcTimeoutError,
    );
  });

  it('rejects pending and later calls when the peer dies, naming how and its stderr', async () => {
    const client = start();
    const pending = client.request('hang');
    void client.request('die').catch(() => {});
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcClosedError);
    expect((error as Error).message).toBe('test peer exited with code 3 (stderr: fatal: boom)');
    expect(client.closed).toBe(true);
    await expect(client.request('echo', 1)).rejects.toBeInstanceOf(RpcClosedError);
    expect(await client.exited).toMatchObject({ code: 3, requested: false });
  });

  it('closes with stdin EOF, and with SIGTERM after the grace when EOF is ignored', async () => {
    const polite = start();
    const t0 = performance.now();
    expect(await polite.close(1_000)).toMatchObject({ code: 0, signal: null, requested: true });
    expect(performance.now() - t0).toBeLessThan(900);

    const stubborn = start('stubborn');
    await stubborn.request('echo', 'up');
    const t1 = performance.now();
    expect(await stubborn.close(150)).toMatchObject({ signal: 'SIGTERM', requested: true });
    expect(performance.now() - t1).toBeGreaterThanOrEqual(140);
  });
});
