import { describe, expect, it } from 'vitest';
import { LarkcodeError } from '../../src/core/errors.js';
import {
  Counter,
  escapeLabelValue,
  formatNumber,
  LarkcodeMetrics,
  MAX_LABEL_SETS,
  MetricsRegistry,
  QUEUE_WAIT_BUCKETS,
  RUN_DURATION_BUCKETS,
} from '../../src/runtime/metrics.js';

/** The lines of one metric family in a rendering (HELP, TYPE and its samples). */
function family(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith(`# HELP ${name} `) ||
        line.startsWith(`# TYPE ${name} `) ||
        new RegExp(`^${name}(_bucket|_sum|_count)?[ {]`).test(line),
    );
}

/** A minimal parser of the 0.0.4 sample line grammar, to check what we write reads back. */
function parseSample(line: string): { name: string; labels: Record<string, string>; value: string } {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
  if (!match) throw new Error(`not a sample line: ${line}`);
  const labels: Record<string, string> = {};
  const body = match[3] ?? '';
  const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
  let consumed = 0;
  for (let m = pair.exec(body); m !== null; m = pair.exec(body)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    consumed = pair.lastIndex;
  }
  if (consumed !== body.length) throw new Error(`bad label set: ${body}`);
  return { name: match[1]!, labels, value: match[4]! };
}

describe('exposition format', () => {
  it('renders counters with HELP, TYPE and labelled samples', () => {
    const registry = new MetricsRegistry('larkcode_');
    const failures = registry.counter<{ phase: string }>('failures_total', 'Failures, by phase.', ['phase']);
    failures.inc({ phase: 'agent' });
    failures.inc({ phase: 'agent' }, 2);
    failures.inc({ phase: 'card' });
    const reconnects = registry.counter('reconnects_total', 'Reconnects.');
    reconnects.inc();
    reconnects.inc(4);

    expect(registry.render()).toBe(
      [
        '# HELP larkcode_failures_total Failures, by phase.',
        '# TYPE larkcode_failures_total counter',
        'larkcode_failures_total{phase="agent"} 3',
        'larkcode_failures_total{phase="card"} 1',
        '# HELP larkcode_reconnects_total Reconnects.',
        '# TYPE larkcode_reconnects_total counter',
        'larkcode_reconnects_total 5',
        '',
      ].join('\n'),
    );
    expect(failures.get({ phase: 'agent' })).toBe(3);
    expect(failures.get({ phase: 'store' })).toBe(0);
  });

  it('renders an unused unlabelled metric as zero and a labelled one as headers only', () => {
    const registry = new MetricsRegistry();
    registry.counter('plain_total', 'Plain.');
    registry.counter<{ reason: string }>('by_reason_total', 'By reason.', ['reason']);
    expect(registry.render()).toBe(
      [
        '# HELP larkcode_plain_total Plain.',
        '# TYPE larkcode_plain_total counter',
        'larkcode_plain_total 0',
        '# HELP larkcode_by_reason_total By reason.',
        '# TYPE larkcode_by_reason_total counter',
        '',
      ].join('\n'),
    );
  });

  it('never lets a counter go down or become NaN', () => {
    const counter = new Counter('c_total', 'C.', []);
    counter.inc(2);
    counter.inc(-1);
    counter.inc(Number.NaN);
    counter.inc(Number.POSITIVE_INFINITY);
    expect(counter.get()).toBe(2);
  });

  it('renders gauges that go up, down and are set', () => {
    const registry = new MetricsRegistry();
    const active = registry.gauge('active_runs', 'Active runs.');
    active.inc();
    active.inc();
    active.inc();
    active.dec();
    expect(family(registry.render(), 'larkcode_active_runs')).toEqual([
      '# HELP larkcode_active_runs Active runs.',
      '# TYPE larkcode_active_runs gauge',
      'larkcode_active_runs 2',
    ]);
    active.set(-1.5);
    expect(registry.render()).toContain('larkcode_active_runs -1.5\n');
    const byChat = registry.gauge<{ chat: string }>('pending', 'Pending.', ['chat']);
    byChat.set({ chat: 'oc_1' }, 3);
    byChat.dec({ chat: 'oc_1' });
    expect(byChat.get({ chat: 'oc_1' })).toBe(2);
    expect(registry.render()).toContain('larkcode_pending{chat="oc_1"} 2\n');
  });

  it('renders histogram buckets cumulatively, with +Inf, _sum and _count', () => {
    const registry = new MetricsRegistry();
    const wait = registry.histogram('queue_wait_seconds', 'Queue wait.', [0.1, 0.5, 1]);
    for (const value of [0.05, 0.1, 0.3, 0.7, 2, 30]) wait.observe(value);
    wait.observe(Number.NaN); // ignored
    expect(family(registry.render(), 'larkcode_queue_wait_seconds')).toEqual([
      '# HELP larkcode_queue_wait_seconds Queue wait.',
      '# TYPE larkcode_queue_wait_seconds histogram',
      'larkcode_queue_wait_seconds_bucket{le="0.1"} 2', // 0.05 and 0.1 (le is inclusive)
      'larkcode_queue_wait_seconds_bucket{le="0.5"} 3',
      'larkcode_queue_wait_seconds_bucket{le="1"} 4',
      'larkcode_queue_wait_seconds_bucket{le="+Inf"} 6',
      'larkcode_queue_wait_seconds_sum 33.15',
      'larkcode_queue_wait_seconds_count 6',
    ]);
    expect(wait.get()).toEqual({ sum: 33.15, count: 6 });
  });

  it('renders an unused histogram with zero buckets and labelled histograms with le last', () => {
    const registry = new MetricsRegistry();
    registry.histogram('idle_seconds', 'Idle.', [1, 2]);
    const byKind = registry.histogram<{ kind: string }>('op_seconds', 'Ops.', [1], ['kind']);
    byKind.observe({ kind: 'write' }, 0.5);
    byKind.observe({ kind: 'write' }, 1.5);
    const text = registry.render();
    expect(family(text, 'larkcode_idle_seconds').slice(2)).toEqual([
      'larkcode_idle_seconds_bucket{le="1"} 0',
      'larkcode_idle_seconds_bucket{le="2"} 0',
      'larkcode_idle_seconds_bucket{le="+Inf"} 0',
      'larkcode_idle_seconds_sum 0',
      'larkcode_idle_seconds_count 0',
    ]);
    expect(family(text, 'larkcode_op_seconds').slice(2)).toEqual([
      'larkcode_op_seconds_bucket{kind="write",le="1"} 1',
      'larkcode_op_seconds_bucket{kind="write",le="+Inf"} 2',
      'larkcode_op_seconds_sum{kind="write"} 2',
      'larkcode_op_seconds_count{kind="write"} 2',
    ]);
  });

  it('times with startTimer in seconds', async () => {
    const registry = new MetricsRegistry();
    const duration = registry.histogram('d_seconds', 'D.', [0.001, 10]);
    const end = duration.startTimer();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = end();
    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(seconds).toBeLessThan(10);
    expect(duration.get().count).toBe(1);
    expect(registry.render()).toContain('larkcode_d_seconds_bucket{le="0.001"} 0\n');
    expect(registry.render()).toContain('larkcode_d_seconds_bucket{le="10"} 1\n');
  });

  it('escapes backslash, double quote and line feed in label values, and HELP text', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const registry = new MetricsRegistry();
    const denials = registry.counter<{ reason: string }>('denials_total', 'Line one\nback\\slash "q"', [
      'reason',
    ]);
    const nasty = 'say "hi"\\\nbye';
    denials.inc({ reason: nasty });
    const lines = registry.render().split('\n');
    expect(lines[0]).toBe('# HELP larkcode_denials_total Line one\\nback\\\\slash "q"');
    expect(lines[2]).toBe('larkcode_denials_total{reason="say \\"hi\\"\\\\\\nbye"} 1');
    // Every sample is one physical line, and its label reads back to the original value.
    expect(parseSample(lines[2]!).labels.reason).toBe(nasty);
  });

  it('formats special numbers the way Prometheus parses them', () => {
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('+Inf');
    expect(formatNumber(Number.NEGATIVE_INFINITY)).toBe('-Inf');
    expect(formatNumber(Number.NaN)).toBe('NaN');
    expect(formatNumber(0.1)).toBe('0.1');
    expect(formatNumber(3600)).toBe('3600');
  });

  it('refuses bad names, duplicate names and bad buckets', () => {
    const registry = new MetricsRegistry();
    expect(() => registry.counter('bad-name', 'x')).toThrow(LarkcodeError);
    expect(() => registry.counter<{ 'a-b': string }>('ok_total', 'x', ['a-b'])).toThrow(LarkcodeError);
    expect(() => registry.counter<{ __x: string }>('ok2_total', 'x', ['__x'])).toThrow(LarkcodeError);
    registry.counter('dup_total', 'x');
    expect(() => registry.gauge('dup_total', 'x')).toThrow(/registered twice/);
    registry.histogram('h_seconds', 'x', [1]);
    expect(() => registry.counter('h_seconds_count', 'x')).toThrow(/registered twice/);
    expect(() => registry.histogram('e', 'x', [])).toThrow(LarkcodeError);
    expect(() => registry.histogram('u', 'x', [2, 1])).toThrow(/increasing/);
    expect(() => registry.histogram('i', 'x', [1, Number.POSITIVE_INFINITY])).toThrow(/finite/);
    expect(() => registry.histogram<{ le: string }>('l', 'x', [1], ['le'])).toThrow(/"le"/);
  });

  it('writes only lines the 0.0.4 grammar accepts, ending with a line feed', () => {
    const metrics = new LarkcodeMetrics();
    metrics.runsStarted.inc();
    metrics.runsFinished.inc({ outcome: 'completed' });
    metrics.runDurationSeconds.observe(42);
    metrics.queueWaitSeconds.observe(0.2);
    metrics.callbackDenials.inc({ reason: 'expired "token"\n' });
    metrics.messagesDropped.inc({ reason: 'stranger' });
    const text = metrics.render();
    expect(text.endsWith('\n')).toBe(true);
    const typed = new Set<string>();
    for (const line of text.slice(0, -1).split('\n')) {
      if (line.startsWith('# TYPE ')) {
        const [, , name, type] = line.split(' ');
        expect(['counter', 'gauge', 'histogram']).toContain(type);
        expect(typed.has(name!)).toBe(false);
        typed.add(name!);
        continue;
      }
      if (line.startsWith('# HELP ')) continue;
      const sample = parseSample(line);
      expect(sample.name.startsWith('larkcode_')).toBe(true);
      expect(Number.isNaN(Number(sample.value.replace('+Inf', 'Infinity')))).toBe(false);
    }
  });
});

describe('cardinality guard', () => {
  it(`keeps ${MAX_LABEL_SETS} label sets and folds the rest into "other"`, () => {
    const registry = new MetricsRegistry();
    const dropped = registry.counter<{ reason: string; chat: string }>('dropped_total', 'Dropped.', [
      'reason',
      'chat',
    ]);
    for (let i = 0; i < MAX_LABEL_SETS; i++) dropped.inc({ reason: `r${i}`, chat: 'c' });
    expect(dropped.seriesCount).toBe(MAX_LABEL_SETS);
    for (let i = MAX_LABEL_SETS; i < MAX_LABEL_SETS + 500; i++) dropped.inc({ reason: `r${i}`, chat: 'c' });
    // Known label sets still count on their own series.
    dropped.inc({ reason: 'r0', chat: 'c' });
    expect(dropped.seriesCount).toBe(MAX_LABEL_SETS + 1);
    expect(dropped.get({ reason: 'r0', chat: 'c' })).toBe(2);
    expect(dropped.get({ reason: 'other', chat: 'other' })).toBe(500);
    const samples = registry
      .render()
      .split('\n')
      .filter((line) => line.startsWith('larkcode_dropped_total{'));
    expect(samples).toHaveLength(MAX_LABEL_SETS + 1);
    expect(samples.at(-1)).toBe('larkcode_dropped_total{reason="other",chat="other"} 500');
    expect(registry.render()).not.toContain('r50"');
  });

  it('applies to histograms too, and reset() starts over', () => {
    const registry = new MetricsRegistry();
    const h = registry.histogram<{ k: string }>('h_seconds', 'H.', [1], ['k']);
    for (let i = 0; i < MAX_LABEL_SETS + 10; i++) h.observe({ k: String(i) }, 0.5);
    expect(h.seriesCount).toBe(MAX_LABEL_SETS + 1);
    expect(h.get({ k: 'other' })).toEqual({ sum: 5, count: 10 });
    h.reset();
    expect(h.seriesCount).toBe(0);
    h.observe({ k: 'fresh' }, 2);
    expect(h.get({ k: 'fresh' }).count).toBe(1);
  });
});

describe('LarkcodeMetrics', () => {
  it('exposes the larkcode instruments with their buckets and zero-started known labels', () => {
    const metrics = new LarkcodeMetrics();
    const text = metrics.render();
    const types = Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line.startsWith('# TYPE '))
        .map((line) => line.split(' ').slice(2)),
    );
    expect(types).toEqual({
      larkcode_runs_started_total: 'counter',
      larkcode_runs_finished_total: 'counter',
      larkcode_run_duration_seconds: 'histogram',
      larkcode_active_runs: 'gauge',
      larkcode_queue_wait_seconds: 'histogram',
      larkcode_tokens_total: 'counter',
      larkcode_failures_total: 'counter',
      larkcode_reconnects_total: 'counter',
      larkcode_callback_denials_total: 'counter',
      larkcode_messages_accepted_total: 'counter',
      larkcode_messages_dropped_total: 'counter',
      larkcode_approvals_total: 'counter',
      larkcode_questions_total: 'counter',
    });
    expect(metrics.runDurationSeconds.buckets).toEqual(RUN_DURATION_BUCKETS);
    expect(metrics.queueWaitSeconds.buckets).toEqual(QUEUE_WAIT_BUCKETS);
    for (const phase of ['feishu', 'agent', 'card', 'store']) {
      expect(text).toContain(`larkcode_failures_total{phase="${phase}"} 0\n`);
    }
    for (const kind of ['input', 'output', 'cached', 'reasoning']) {
      expect(text).toContain(`larkcode_tokens_total{kind="${kind}"} 0\n`);
    }
    for (const outcome of ['completed', 'failed', 'interrupted', 'timeout']) {
      expect(text).toContain(`larkcode_runs_finished_total{outcome="${outcome}"} 0\n`);
    }
    for (const outcome of ['auto', 'approved', 'denied', 'expired', 'cancelled']) {
      expect(text).toContain(`larkcode_approvals_total{outcome="${outcome}"} 0\n`);
    }
    for (const outcome of ['answered', 'expired', 'cancelled']) {
      expect(text).toContain(`larkcode_questions_total{outcome="${outcome}"} 0\n`);
    }
    expect(text).toContain('larkcode_run_duration_seconds_bucket{le="3600"} 0\n');
    expect(text).toContain('larkcode_queue_wait_seconds_bucket{le="0.1"} 0\n');
  });

  it('records a run end to end', () => {
    const metrics = new LarkcodeMetrics();
    metrics.messagesAccepted.inc();
    metrics.queueWaitSeconds.observe(0.3);
    metrics.runsStarted.inc();
    metrics.activeRuns.inc();
    metrics.recordTokens({
      inputTokens: 1200,
      cachedInputTokens: 800,
      outputTokens: 300,
      reasoningTokens: 64,
    });
    metrics.failures.inc({ phase: 'card' });
    metrics.activeRuns.dec();
    metrics.runsFinished.inc({ outcome: 'completed' });
    metrics.runDurationSeconds.observe(75);
    metrics.reconnects.inc();
    metrics.callbackDenials.inc({ reason: 'expired' });
    metrics.messagesDropped.inc({ reason: 'unmentioned' });

    const text = metrics.render();
    expect(text).toContain('larkcode_messages_accepted_total 1\n');
    expect(text).toContain('larkcode_runs_started_total 1\n');
    expect(text).toContain('larkcode_active_runs 0\n');
    expect(text).toContain('larkcode_tokens_total{kind="input"} 1200\n');
    expect(text).toContain('larkcode_tokens_total{kind="cached"} 800\n');
    expect(text).toContain('larkcode_tokens_total{kind="output"} 300\n');
    expect(text).toContain('larkcode_tokens_total{kind="reasoning"} 64\n');
    expect(text).toContain('larkcode_failures_total{phase="card"} 1\n');
    expect(text).toContain('larkcode_runs_finished_total{outcome="completed"} 1\n');
    expect(text).toContain('larkcode_run_duration_seconds_bucket{le="60"} 0\n');
    expect(text).toContain('larkcode_run_duration_seconds_bucket{le="120"} 1\n');
    expect(text).toContain('larkcode_run_duration_seconds_sum 75\n');
    expect(text).toContain('larkcode_queue_wait_seconds_bucket{le="0.5"} 1\n');
    expect(text).toContain('larkcode_reconnects_total 1\n');
    expect(text).toContain('larkcode_callback_denials_total{reason="expired"} 1\n');
    expect(text).toContain('larkcode_messages_dropped_total{reason="unmentioned"} 1\n');
  });
});
