// Child process of bench/core.ts: larkcode's real composition root (`startDaemon`) with a scripted,
// timed AgentRunner in place of codex, so the CPU and memory measured are the daemon's own.
// Talks to the parent over the IPC channel: → ready, go, stats, stopped; ← stats, stop.
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { AgentEvent, AgentRunner, RunRequest } from '../src/agents/types.js';
import { resolvePaths } from '../src/config/paths.js';
import { configSchema } from '../src/config/schema.js';
import { startDaemon } from '../src/runtime/daemon.js';

export interface CoreDaemonOptions {
  emulatorUrl: string;
  appId: string;
  appSecret: string;
  owner: string;
  home: string;
  workspace: string;
  scopes: number;
  seconds: number;
  rate: number;
  /** Wall-clock origin of the timestamps embedded in the emitted text (shared with the parent). */
  epoch: number;
  flushIntervalMs: number;
  debounceMs: number;
  /** Start emitting after this long even if not every run has started. */
  barrierTimeoutMs: number;
}

export type ChildMessage =
  | { type: 'ready'; at: number }
  | { type: 'go'; at: number; started: number }
  | { type: 'stats'; stats: RunnerStats }
  | { type: 'stopped' };

export interface RunnerStats {
  started: number;
  finished: number;
  emitted: number;
  firstEmitAt: number;
  lastEmitAt: number;
  /** How late events left the runner against their schedule (ms): the daemon's event loop lag as felt by the agent. */
  scheduleLagP50: number;
  scheduleLagP99: number;
  scheduleLagMax: number;
  loopDelayP50: number;
  loopDelayP99: number;
  loopDelayMax: number;
  heapUsedPeakMiB: number;
}

/**
 * The marker in every emitted event: `K<seq>T<ms since epoch, base 36>E`. The parent finds it in the
 * card writes the emulator records, which gives each event's emit → card latency and, in the final
 * card, whether any event was lost.
 */
const marker = (seq: number, epoch: number) => `K${seq}T${(Date.now() - epoch).toString(36)}E`;

/** Every 30 events: a command starts at 10 and completes at 15; everything else is a text delta. */
const TOOL_START = 10;
const TOOL_END = 15;
const CYCLE = 30;

const options = JSON.parse(process.argv[2] ?? '{}') as CoreDaemonOptions;
const send = (message: ChildMessage) => process.send?.(message);

class ScriptedRunner implements AgentRunner {
  readonly name = 'scripted';
  started = 0;
  finished = 0;
  emitted = 0;
  firstEmitAt = 0;
  lastEmitAt = 0;
  readonly lag = createHistogram();
  goAt = 0;
  readonly #go: Promise<void>;
  #release!: () => void;

  constructor(private readonly opts: CoreDaemonOptions) {
    this.#go = new Promise<void>((resolve) => {
      this.#release = resolve;
    });
  }

  release(): void {
    if (this.goAt) return;
    this.goAt = Date.now();
    this.#release();
    loopDelay.reset(); // from here on: the measured window
    send({ type: 'go', at: this.goAt, started: this.started });
  }

  async *run(request: RunRequest, signal: AbortSignal): AsyncIterable<AgentEvent> {
    const { seconds, rate, scopes, epoch } = this.opts;
    const index = this.started++;
    if (this.started === 1) setTimeout(() => this.release(), this.opts.barrierTimeoutMs).unref();
    if (this.started >= scopes) this.release();
    yield { type: 'session', sessionId: `bench-${request.scopeId}` };
    await this.#go;

    const interval = 1000 / rate;
    const total = Math.round(seconds * rate);
    // Spread the runs evenly over one interval, so the load is smooth rather than in bursts.
    const origin = this.goAt + 50 + (index % scopes) * (interval / scopes);
    let command = '';
    let textItem = 0;
    try {
      for (let seq = 0; seq < total; seq++) {
        const due = origin + seq * interval;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait, undefined, { signal });
        const now = Date.now();
        this.lag.record(Math.max(1, Math.round(now - due)));
        const phase = seq % CYCLE;
        let event: AgentEvent;
        if (phase === TOOL_START) {
          command = `bench ${marker(seq, epoch)}`;
          event = {
            type: 'tool',
            tool: { kind: 'command', id: `tool${seq}`, status: 'started', command, output: '' },
          };
        } else if (phase === TOOL_END) {
          event = {
            type: 'tool',
            tool: {
              kind: 'command',
              id: `tool${seq - (TOOL_END - TOOL_START)}`,
              status: 'completed',
              command,
              output: `${marker(seq, epoch)}\n`,
              exitCode: 0,
            },
          };
          textItem++;
        } else {
          event = {
            type: 'text',
            itemId: `msg${textItem}`,
            text: `${marker(seq, epoch)} lorem `,
            mode: 'delta',
          };
        }
        if (this.emitted === 0) this.firstEmitAt = now;
        this.emitted++;
        this.lastEmitAt = now;
        yield event;
      }
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
    this.finished++;
    yield { type: 'done', outcome: 'completed' };
  }
}

const runner = new ScriptedRunner(options);
const config = configSchema.parse({
  appId: options.appId,
  appSecret: options.appSecret,
  domain: options.emulatorUrl,
  workspace: options.workspace,
  owner: options.owner,
  logLevel: 'warn',
  runs: { debounceMs: options.debounceMs, maxConcurrent: 64 },
});
// The schema caps runs.maxConcurrent at 64; the benchmark wants every scope running at once.
config.runs.maxConcurrent = options.scopes;

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const daemon = await startDaemon({
  config,
  paths: resolvePaths({ LARKCODE_HOME: options.home }),
  logger: pino({ level: 'warn' }, pino.destination(2)),
  env: { PATH: process.env.PATH, HOME: process.env.HOME },
  agent: runner,
  cardFlushIntervalMs: options.flushIntervalMs,
});
loopDelay.enable();
send({ type: 'ready', at: Date.now() });

const ms = (ns: number) => Math.round(ns / 1e6);
let heapUsedPeak = 0;
setInterval(() => {
  heapUsedPeak = Math.max(heapUsedPeak, process.memoryUsage().heapUsed);
}, 1000).unref();
process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    send({
      type: 'stats',
      stats: {
        started: runner.started,
        finished: runner.finished,
        emitted: runner.emitted,
        firstEmitAt: runner.firstEmitAt,
        lastEmitAt: runner.lastEmitAt,
        scheduleLagP50: runner.lag.percentile(50),
        scheduleLagP99: runner.lag.percentile(99),
        scheduleLagMax: runner.lag.max,
        loopDelayP50: ms(loopDelay.percentile(50)),
        loopDelayP99: ms(loopDelay.percentile(99)),
        loopDelayMax: ms(loopDelay.max),
        heapUsedPeakMiB: Math.round(heapUsedPeak / 2 ** 20),
      },
    });
  } else if (message.type === 'stop') {
    void daemon.stop(10_000).then(() => {
      send({ type: 'stopped' });
      process.disconnect?.();
      process.exit(0);
    });
  }
});
