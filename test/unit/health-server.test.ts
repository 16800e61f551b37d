import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import {
  composeHealthReport,
  type HealthReport,
  type HealthServer,
  healthReportSchema,
  healthServerConfigSchema,
  loopbackHost,
  startHealthServer,
} from '../../src/runtime/health-server.js';
import { LarkcodeMetrics } from '../../src/runtime/metrics.js';

const logger = pino({ level: 'silent' });
const started: HealthServer[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.close()));
});

const healthy: HealthReport = {
  status: 'ok',
  connection: { state: 'connected', lastEventAt: '2026-01-02T03:04:05.000Z', lastEventAgoSec: 12 },
  agent: { ok: true, detail: 'codex 0.163.0 answered', checkedAt: '2026-01-02T03:00:00.000Z' },
  uptimeSec: 3600,
  version: '0.1.0',
};

async function start(
  overrides: Partial<Parameters<typeof startHealthServer>[0]> = {},
): Promise<HealthServer & { metrics: LarkcodeMetrics }> {
  const metrics = new LarkcodeMetrics();
  const server = await startHealthServer({
    port: 0,
    metrics: () => metrics.render(),
    health: () => healthy,
    logger,
    ...overrides,
  });
  started.push(server);
  return { ...server, metrics };
}

/** A raw request, for what fetch will not send (a Host header, odd methods). */
function raw(
  url: string,
  options: { method?: string; path: string; host?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: hostname.replace(/^\[|\]$/g, ''),
        port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: options.host ? { host: options.host } : {},
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('startHealthServer', () => {
  it('serves /metrics in the Prometheus text format on 127.0.0.1', async () => {
    const server = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    server.metrics.runsStarted.inc();
    server.metrics.failures.inc({ phase: 'feishu' });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    expect(text).toContain('# TYPE larkcode_runs_started_total counter\n');
    expect(text).toContain('larkcode_runs_started_total 1\n');
    expect(text).toContain('larkcode_failures_total{phase="feishu"} 1\n');
    // Each scrape sees the current values.
    server.metrics.runsStarted.inc();
    expect(await (await fetch(`${server.url}/metrics?x=1`)).text()).toContain(
      'larkcode_runs_started_total 2\n',
    );
  });

  it('answers /health with 200 and the report when healthy', async () => {
    const server = await start({ health: async () => ({ ...healthy, extra: 'secret' }) as HealthReport });
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await res.json();
    // Unknown keys never leave the process.
    expect(body).toEqual(healthy);
    expect(healthReportSchema.parse(body)).toEqual(healthy);
  });

  it.each(['degraded', 'down'] as const)('answers /health with 503 when %s', async (status) => {
    const report: HealthReport = {
      status,
      connection: { state: 'reconnecting' },
      agent: { ok: false, detail: 'codex exited 1' },
      uptimeSec: 5,
    };
    const server = await start({ health: () => report });
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual(report);
  });

  it('answers 503 down when health() throws, hangs or returns garbage', async () => {
    const failing = await start({
      health: () => {
        throw new Error('token abc123 leaked?');
      },
    });
    const res = await fetch(`${failing.url}/health`);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: 'down', agent: { ok: false } });
    expect(text).not.toContain('abc123');

    const hanging = await start({ health: () => new Promise<HealthReport>(() => {}), healthTimeoutMs: 50 });
    const hung = await fetch(`${hanging.url}/health`);
    expect(hung.status).toBe(503);
    expect(((await hung.json()) as HealthReport).status).toBe('down');

    const garbage = await start({ health: () => ({ status: 'fine' }) as unknown as HealthReport });
    const bad = await fetch(`${garbage.url}/health`);
    expect(bad.status).toBe(503);
    expect(((await bad.json()) as HealthReport).status).toBe('down');
  });

  it('answers 500 when rendering the metrics throws', async () => {
    const server = await start({
      metrics: () => {
        throw new Error('boom');
      },
    });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(500);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const server = await start();
    for (const path of ['/', '/metrics/', '/healthz', '/favicon.ico', '/../metrics']) {
      expect((await raw(server.url, { path })).status, path).toBe(404);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const res = await raw(server.url, { method, path: '/metrics' });
      expect(res.status, method).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
    expect((await fetch(`${server.url}/health`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await raw(server.url, { method: 'HEAD', path: '/metrics' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('refuses foreign Host headers (DNS rebinding) and accepts loopback names', async () => {
    const server = await start();
    const port = new URL(server.url).port;
    expect((await raw(server.url, { path: '/metrics', host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw(server.url, { path: '/health', host: 'evil.example' })).status).toBe(403);
    expect((await raw(server.url, { path: '/metrics', host: `localhost:${port}` })).status).toBe(200);
    expect((await raw(server.url, { path: '/metrics', host: `127.0.0.1:${port}` })).status).toBe(200);
    expect((await raw(server.url, { path: '/metrics', host: `[::1]:${port}` })).status).toBe(200);
  });

  it('refuses to bind anything but loopback', async () => {
    const lan =
      Object.values(networkInterfaces())
        .flat()
        .find((info) => info && !info.internal && info.family === 'IPv4')?.address ?? '192.168.1.20';
    for (const host of ['0.0.0.0', '::', lan, '10.0.0.5', '127.0.0.2', 'example.com', '']) {
      const attempt = startHealthServer({ port: 0, host, metrics: () => '', health: () => healthy, logger });
      await expect(attempt, host).rejects.toThrow(LarkcodeError);
      await expect(attempt, host).rejects.toMatchObject({ kind: 'config' });
    }
    expect(() => loopbackHost('0.0.0.0')).toThrow(/loopback only/);
    expect(loopbackHost(' LOCALHOST ')).toBe('localhost');
    expect(loopbackHost('[::1]')).toBe('::1');
  });

  it('binds localhost to a loopback address', async () => {
    const server = await start({ host: 'localhost' });
    expect(server.url).toMatch(/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });

  it('refuses a bad port and a port in use with a config error', async () => {
    for (const port of [-1, 65_536, 1.5, Number.NaN]) {
      await expect(
        startHealthServer({ port, metrics: () => '', health: () => healthy, logger }),
      ).rejects.toMatchObject({ kind: 'config' });
    }
    const first = await start();
    const port = Number(new URL(first.url).port);
    await expect(
      startHealthServer({ port, metrics: () => '', health: () => healthy, logger }),
    ).rejects.toMatchObject({ kind: 'config', message: expect.stringContaining('EADDRINUSE') });
  });

  it('close() stops listening, drops keep-alive connections and is idempotent', async () => {
    const server = await start();
    // A keep-alive connection (fetch pools it) must not hold close() up.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    const t0 = Date.now();
    await Promise.all([server.close(), server.close()]);
    expect(Date.now() - t0).toBeLessThan(1000);
    await server.close();
    await expect(fetch(`${server.url}/metrics`)).rejects.toThrow();
  });
});

describe('composeHealthReport', () => {
  const base = { startedAt: 1_000_000, now: 1_000_000 + 90_500 };

  it('is ok when connected and the agent passed its smoke test', () => {
    const report = composeHealthReport({
      ...base,
      connectionState: 'connected',
      lastEventAt: base.now - 12_400,
      agent: { ok: true, detail: 'ok', checkedAt: base.startedAt },
      version: '0.1.0',
    });
    expect(report).toEqual({
      status: 'ok',
      connection: {
        state: 'connected',
        lastEventAt: new Date(base.now - 12_400).toISOString(),
        lastEventAgoSec: 12,
      },
      agent: { ok: true, detail: 'ok', checkedAt: new Date(base.startedAt).toISOString() },
      uptimeSec: 91,
      version: '0.1.0',
    });
    expect(healthReportSchema.parse(report)).toEqual(report);
  });

  it('is degraded while reconnecting or when the agent fails, down when the connection is gone', () => {
    const agentOk = { ok: true, detail: 'ok' };
    const status = (connectionState: string, agent = agentOk) =>
      composeHealthReport({ ...base, connectionState, agent }).status;
    expect(status('connected', { ok: false, detail: 'codex not found' })).toBe('degraded');
    expect(status('reconnecting')).toBe('degraded');
    expect(status('connecting')).toBe('degraded');
    expect(status('failed')).toBe('down');
    expect(status('idle')).toBe('down');
    const quiet = composeHealthReport({ ...base, connectionState: 'connected', agent: agentOk });
    expect(quiet.connection).toEqual({ state: 'connected' });
    expect(quiet.agent).toEqual(agentOk);
  });
});

describe('healthServerConfigSchema', () => {
  it('is off by default, loopback only, strict', () => {
    expect(healthServerConfigSchema.parse({})).toEqual({ enabled: false, host: '127.0.0.1', port: 9478 });
    expect(healthServerConfigSchema.parse({ enabled: true, host: '::1', port: 0 }).host).toBe('::1');
    expect(() => healthServerConfigSchema.parse({ host: '0.0.0.0' })).toThrow();
    expect(() => healthServerConfigSchema.parse({ port: 70_000 })).toThrow();
    expect(() => healthServerConfigSchema.parse({ enabled: true, bind: 'x' })).toThrow();
  });
});
