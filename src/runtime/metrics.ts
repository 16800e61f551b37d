/**
 * In-process metrics, rendered in the Prometheus text exposition format 0.0.4 for the
 * loopback `/metrics` endpoint (health-server.ts).
 *
 * Hand-written rather than prom-client: larkcode needs three instrument kinds, one registry
 * and one output format; prom-client brings cluster aggregation, default process collectors
 * and summaries we would not use. Telemetry is opt-in (seed 004 §5.16): nothing here leaves
 * the process unless someone scrapes the endpoint.
 *
 * Instruments never throw while recording (a bad value is ignored): a metric must never be the
 * reason a run fails. Misuse at construction (bad names, unsorted buckets) throws, because that
 * is a programming error found by the first test.
 */
import type { TokenUsage } from '../agents/types.js';
import { LarkcodeError } from '../core/errors.js';

/** Label values of one series, keyed by label name. */
export type Labels = Record<string, string>;
/** An instrument without labels. */
export type NoLabels = Record<never, string>;

/** Arguments of `inc` / `set`: `(value?)` without labels, `(labels, value?)` with them. */
type ValueArgs<L extends Labels> = [keyof L] extends [never] ? [value?: number] : [labels: L, value?: number];
/** Arguments of `observe`: `(value)` without labels, `(labels, value)` with them. */
type ObserveArgs<L extends Labels> = [keyof L] extends [never] ? [value: number] : [labels: L, value: number];
/** Arguments of reads and timers: `()` without labels, `(labels)` with them. */
type LabelArgs<L extends Labels> = [keyof L] extends [never] ? [] : [labels: L];

/**
 * Distinct label sets kept per metric. A label fed from outside (a denial reason, an error
 * text) could otherwise grow the registry and every scrape without bound; past this, new
 * label sets fold into one series whose every label is `other`.
 */
export const MAX_LABEL_SETS = 50;
export const OVERFLOW_LABEL_VALUE = 'other';

export const RUN_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600] as const;
export const QUEUE_WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300] as const;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type MetricType = 'counter' | 'gauge' | 'histogram';

interface Series<V> {
  labels: readonly string[];
  value: V;
}

/** Shared by all instruments: the label sets (with the cardinality guard) and the header lines. */
abstract class Metric<L extends Labels, V> {
  abstract readonly type: MetricType;
  readonly #series = new Map<string, Series<V>>();
  #distinct = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly (keyof L & string)[],
  ) {
    if (!METRIC_NAME.test(name)) throw new LarkcodeError('internal', `invalid metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new LarkcodeError('internal', `invalid label name "${label}" on metric ${name}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new LarkcodeError('internal', `duplicate label name on metric ${name}`);
    }
  }

  protected abstract initial(): V;

  /** The series for these labels, created on first use; folded into `other` past the limit. */
  protected seriesFor(labels: Labels | undefined): Series<V> {
    if (this.labelNames.length === 0) return this.#unlabelled();
    const values = this.labelNames.map((name) => String(labels?.[name] ?? ''));
    const key = JSON.stringify(values);
    const found = this.#series.get(key);
    if (found) return found;
    if (this.#distinct >= MAX_LABEL_SETS) {
      const otherValues = this.labelNames.map(() => OVERFLOW_LABEL_VALUE);
      const otherKey = JSON.stringify(otherValues);
      let other = this.#series.get(otherKey);
      if (!other) {
        other = { labels: otherValues, value: this.initial() };
        this.#series.set(otherKey, other);
      }
      return other;
    }
    const created = { labels: values, value: this.initial() };
    this.#series.set(key, created);
    this.#distinct++;
    return created;
  }

  /** An unlabelled metric has exactly one series; it exists (as zero) from the first render. */
  #unlabelled(): Series<V> {
    let series = this.#series.get('');
    if (!series) {
      series = { labels: [], value: this.initial() };
      this.#series.set('', series);
    }
    return series;
  }

  /** Look a series up without creating it. */
  protected peek(labels: Labels | undefined): Series<V> | undefined {
    if (this.labelNames.length === 0) return this.#series.get('');
    return this.#series.get(JSON.stringify(this.labelNames.map((name) => String(labels?.[name] ?? ''))));
  }

  /** Number of series currently held (the `other` series included). */
  get seriesCount(): number {
    return this.#series.size;
  }

  /** Drop every series (an unlabelled metric goes back to zero). */
  reset(): void {
    this.#series.clear();
    this.#distinct = 0;
  }

  render(): string {
    if (this.labelNames.length === 0) this.#unlabelled();
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const series of this.#series.values()) out += this.renderSeries(series);
    return out;
  }

  protected abstract renderSeries(series: Series<V>): string;

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((name, i) => `${name}="${escapeLabelValue(values[i]!)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
  }

  /** Split `(labels, value)` / `(value)` call forms. */
  protected split(args: readonly unknown[]): { labels: Labels | undefined; value: number | undefined } {
    if (this.labelNames.length === 0) return { labels: undefined, value: args[0] as number | undefined };
    return { labels: args[0] as Labels | undefined, value: args[1] as number | undefined };
  }
}

/** A monotonically increasing count. Prometheus convention: name it `…_total`. */
export class Counter<L extends Labels = NoLabels> extends Metric<L, number> {
  readonly type = 'counter';

  protected initial(): number {
    return 0;
  }

  /** Add `value` (default 1). Negative or non-finite amounts are ignored: a counter never goes down. */
  inc(...args: ValueArgs<L>): void {
    const { labels, value = 1 } = this.split(args);
    if (!Number.isFinite(value) || value < 0) return;
    this.seriesFor(labels).value += value;
  }

  get(...args: LabelArgs<L>): number {
    return this.peek(args[0])?.value ?? 0;
  }

  protected renderSeries(series: Series<number>): string {
    return `${this.name}${this.labelText(series.labels)} ${formatNumber(series.value)}\n`;
  }
}

/** A value that goes up and down. */
export class Gauge<L extends Labels = NoLabels> extends Metric<L, number> {
  readonly type = 'gauge';

  protected initial(): number {
    return 0;
  }

  set(...args: ObserveArgs<L>): void {
    const { labels, value } = this.split(args);
    if (typeof value !== 'number' || Number.isNaN(value)) return;
    this.seriesFor(labels).value = value;
  }

  inc(...args: ValueArgs<L>): void {
    const { labels, value = 1 } = this.split(args);
    if (!Number.isFinite(value)) return;
    this.seriesFor(labels).value += value;
  }

  dec(...args: ValueArgs<L>): void {
    const { labels, value = 1 } = this.split(args);
    if (!Number.isFinite(value)) return;
    this.seriesFor(labels).value -= value;
  }

  get(...args: LabelArgs<L>): number {
    return this.peek(args[0])?.value ?? 0;
  }

  protected renderSeries(series: Series<number>): string {
    return `${this.name}${this.labelText(series.labels)} ${formatNumber(series.value)}\n`;
  }
}

interface HistogramValue {
  /** Per bucket, not cumulative (made cumulative when rendered); the last one is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed upper-bound buckets (seconds, by convention). */
export class Histogram<L extends Labels = NoLabels> extends Metric<L, HistogramValue> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly (keyof L & string)[],
    buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (labelNames.includes('le' as keyof L & string)) {
      throw new LarkcodeError('internal', `histogram ${name} may not use the label "le"`);
    }
    this.buckets = checkBuckets(name, buckets);
  }

  protected initial(): HistogramValue {
    const size = this.buckets.length + 1;
    return { counts: new Array<number>(size).fill(0), sum: 0, count: 0 };
  }

  /** Record one observation. Non-finite values are ignored, so `_sum` stays a number. */
  observe(...args: ObserveArgs<L>): void {
    const { labels, value } = this.split(args);
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    const series = this.seriesFor(labels).value;
    let index = this.buckets.findIndex((bound) => value <= bound);
    if (index < 0) index = this.buckets.length;
    series.counts[index]!++;
    series.sum += value;
    series.count++;
  }

  /** Start timing; the returned function observes the elapsed seconds and returns them. */
  startTimer(...args: LabelArgs<L>): () => number {
    const started = performance.now();
    return () => {
      const seconds = (performance.now() - started) / 1000;
      (this.observe as (...a: unknown[]) => void)(...(args.length ? [args[0], seconds] : [seconds]));
      return seconds;
    };
  }

  /** `{ sum, count }` for these labels (zeros when never observed). */
  get(...args: LabelArgs<L>): { sum: number; count: number } {
    const series = this.peek(args[0]);
    return { sum: series?.value.sum ?? 0, count: series?.value.count ?? 0 };
  }

  protected renderSeries(series: Series<HistogramValue>): string {
    let out = '';
    let cumulative = 0;
    this.buckets.forEach((bound, i) => {
      cumulative += series.value.counts[i]!;
      out += `${this.name}_bucket${this.labelText(series.labels, ['le', formatNumber(bound)])} ${cumulative}\n`;
    });
    cumulative += series.value.counts[this.buckets.length]!;
    out += `${this.name}_bucket${this.labelText(series.labels, ['le', '+Inf'])} ${cumulative}\n`;
    out += `${this.name}_sum${this.labelText(series.labels)} ${formatNumber(series.value.sum)}\n`;
    out += `${this.name}_count${this.labelText(series.labels)} ${series.value.count}\n`;
    return out;
  }
}

function checkBuckets(name: string, buckets: readonly number[]): readonly number[] {
  if (buckets.length === 0)
    throw new LarkcodeError('internal', `histogram ${name} needs at least one bucket`);
  for (let i = 0; i < buckets.length; i++) {
    if (!Number.isFinite(buckets[i])) {
      throw new LarkcodeError('internal', `histogram ${name}: buckets must be finite (+Inf is implied)`);
    }
    if (i > 0 && buckets[i]! <= buckets[i - 1]!) {
      throw new LarkcodeError('internal', `histogram ${name}: buckets must be strictly increasing`);
    }
  }
  return Object.freeze([...buckets]);
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Numbers as Prometheus parses them: `+Inf`, `-Inf`, `NaN`, else JavaScript's shortest form. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** Owns instruments (names prefixed) and renders them all, in registration order. */
export class MetricsRegistry {
  readonly #metrics: { render(): string }[] = [];
  readonly #taken = new Set<string>();

  constructor(readonly prefix = 'larkcode_') {}

  counter<L extends Labels = NoLabels>(
    name: string,
    help: string,
    labelNames: readonly (keyof L & string)[] = [],
  ): Counter<L> {
    return this.#add(new Counter<L>(this.prefix + name, help, labelNames));
  }

  gauge<L extends Labels = NoLabels>(
    name: string,
    help: string,
    labelNames: readonly (keyof L & string)[] = [],
  ): Gauge<L> {
    return this.#add(new Gauge<L>(this.prefix + name, help, labelNames));
  }

  histogram<L extends Labels = NoLabels>(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly (keyof L & string)[] = [],
  ): Histogram<L> {
    return this.#add(new Histogram<L>(this.prefix + name, help, labelNames, buckets));
  }

  #add<M extends Counter<never> | Gauge<never> | Histogram<never>>(metric: M): M {
    // A histogram also writes `<name>_bucket`, `_sum` and `_count`; a metric by one of those
    // names would make the exposition ambiguous, so those names are taken too.
    const names =
      metric instanceof Histogram
        ? [metric.name, `${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`]
        : [metric.name];
    const clash = names.find((name) => this.#taken.has(name));
    if (clash) throw new LarkcodeError('internal', `metric name ${clash} is registered twice`);
    for (const name of names) this.#taken.add(name);
    this.#metrics.push(metric);
    return metric;
  }

  /** The whole registry in text format 0.0.4 (ends with a line feed, as the format requires). */
  render(): string {
    let out = '';
    for (const metric of this.#metrics) out += metric.render();
    return out;
  }
}

export type RunOutcomeLabel = 'completed' | 'failed' | 'interrupted' | 'timeout';
export type TokenKind = 'input' | 'output' | 'cached' | 'reasoning';
export type FailurePhase = 'feishu' | 'agent' | 'card' | 'store';

const APPROVAL_OUTCOMES = ['auto', 'approved', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalOutcomeLabel = (typeof APPROVAL_OUTCOMES)[number];
const QUESTION_OUTCOMES = ['answered', 'expired', 'cancelled'] as const;
export type QuestionOutcomeLabel = (typeof QUESTION_OUTCOMES)[number];
const RUN_OUTCOMES: readonly RunOutcomeLabel[] = ['completed', 'failed', 'interrupted', 'timeout'];
const TOKEN_KINDS: readonly TokenKind[] = ['input', 'output', 'cached', 'reasoning'];
const FAILURE_PHASES: readonly FailurePhase[] = ['feishu', 'agent', 'card', 'store'];

/**
 * larkcode's instruments (seed 004 §5.16 metric hooks). The daemon records into these; the
 * health server renders them.
 */
export class LarkcodeMetrics {
  readonly registry: MetricsRegistry;

  readonly runsStarted: Counter;
  readonly runsFinished: Counter<{ outcome: RunOutcomeLabel }>;
  readonly runDurationSeconds: Histogram;
  readonly activeRuns: Gauge;
  readonly queueWaitSeconds: Histogram;
  readonly tokens: Counter<{ kind: TokenKind }>;
  readonly failures: Counter<{ phase: FailurePhase }>;
  readonly reconnects: Counter;
  readonly callbackDenials: Counter<{ reason: string }>;
  readonly messagesAccepted: Counter;
  readonly messagesDropped: Counter<{ reason: string }>;
  readonly approvals: Counter<{ outcome: ApprovalOutcomeLabel }>;
  readonly questions: Counter<{ outcome: QuestionOutcomeLabel }>;

  constructor(registry = new MetricsRegistry('larkcode_')) {
    this.registry = registry;
    this.runsStarted = registry.counter('runs_started_total', 'Agent runs started.');
    this.runsFinished = registry.counter<{ outcome: RunOutcomeLabel }>(
      'runs_finished_total',
      'Agent runs finished, by outcome.',
      ['outcome'],
    );
    this.runDurationSeconds = registry.histogram(
      'run_duration_seconds',
      'Wall-clock duration of an agent run, from start to its outcome.',
      RUN_DURATION_BUCKETS,
    );
    this.activeRuns = registry.gauge('active_runs', 'Agent runs in progress (holding a pool slot).');
    this.queueWaitSeconds = registry.histogram(
      'queue_wait_seconds',
      'Time a run waited for a slot in the global run pool.',
      QUEUE_WAIT_BUCKETS,
    );
    this.tokens = registry.counter<{ kind: TokenKind }>(
      'tokens_total',
      'Model tokens used by agent runs, by kind (per turn, not thread-cumulative).',
      ['kind'],
    );
    this.failures = registry.counter<{ phase: FailurePhase }>(
      'failures_total',
      'Failures, by the phase they happened in.',
      ['phase'],
    );
    this.reconnects = registry.counter('reconnects_total', 'Feishu long connection reconnects.');
    this.callbackDenials = registry.counter<{ reason: string }>(
      'callback_denials_total',
      'Card callbacks refused, by reason.',
      ['reason'],
    );
    this.messagesAccepted = registry.counter('messages_accepted_total', 'Chat messages accepted by intake.');
    this.messagesDropped = registry.counter<{ reason: string }>(
      'messages_dropped_total',
      'Chat messages dropped by intake, by reason.',
      ['reason'],
    );

    this.approvals = registry.counter<{ outcome: ApprovalOutcomeLabel }>(
      'approvals_total',
      "Agent approval requests, by outcome (auto: larkcode's rules approved it without asking).",
      ['outcome'],
    );
    this.questions = registry.counter<{ outcome: QuestionOutcomeLabel }>(
      'questions_total',
      'Questions the agent asked people, by outcome.',
      ['outcome'],
    );

    // Known label values start at zero so `rate()` and alerts see a series before the first event.
    for (const outcome of RUN_OUTCOMES) this.runsFinished.inc({ outcome }, 0);
    for (const kind of TOKEN_KINDS) this.tokens.inc({ kind }, 0);
    for (const phase of FAILURE_PHASES) this.failures.inc({ phase }, 0);
    for (const outcome of APPROVAL_OUTCOMES) this.approvals.inc({ outcome }, 0);
    for (const outcome of QUESTION_OUTCOMES) this.questions.inc({ outcome }, 0);
  }

  /**
   * Count one turn's tokens. Pass this turn's usage: Codex reports thread-cumulative usage
   * (`cumulative: true`), which the caller must turn into a difference first (as the card footer
   * does) or every resumed turn would count the whole thread again.
   */
  recordTokens(usage: Omit<TokenUsage, 'cumulative'>): void {
    this.tokens.inc({ kind: 'input' }, usage.inputTokens);
    this.tokens.inc({ kind: 'output' }, usage.outputTokens);
    this.tokens.inc({ kind: 'cached' }, usage.cachedInputTokens);
    this.tokens.inc({ kind: 'reasoning' }, usage.reasoningTokens);
  }

  render(): string {
    return this.registry.render();
  }
}
