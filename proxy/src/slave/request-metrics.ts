/**
 * Counters and histograms updated once or more per proxied request. prom-client's `inc`/`observe`
 * build label objects, a closure and a hash key per call, and key buckets by number-as-string;
 * these series are plain fields instead, handed to the registry in prom-client's own format
 * (`get()`), so the exposition text and the `--workers` aggregation are what prom-client gives.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

export class CounterSeries {
  value = 0;

  constructor(readonly labels: Labels) {}

  inc(n = 1): void {
    this.value += n;
  }
}

/** A counter with one label, whose series are made up front (`series`) and kept by the caller. */
export class RequestCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly all: CounterSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  series(labelValue: string): CounterSeries {
    const s = new CounterSeries({ [this.labelName]: labelValue });
    this.all.push(s);
    return s;
  }

  get(): Promise<MetricData> {
    const values = this.all.map((s) => ({ labels: { ...s.labels }, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const s of this.all) s.value = 0;
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Labels,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram with at most one label, its series made up front (`series`) and kept by the caller. */
export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all: HistogramSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly labelName: string | undefined,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  series(labelValue?: string): HistogramSeries {
    const labels: Labels =
      this.labelName === undefined || labelValue === undefined ? {} : { [this.labelName]: labelValue };
    const s = new HistogramSeries(this.bounds, labels);
    this.all.push(s);
    return s;
  }

  get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.all) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.bounds[i], ...s.labels }, value: acc, metricName: bucket });
      }
      values.push(
        { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket },
        { labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` },
        { labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const s of this.all) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
