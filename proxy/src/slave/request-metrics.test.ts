import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { RequestCounter, RequestHistogram } from './request-metrics.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];

/** The same metrics twice: prom-client's own, and ours; every value fed to both. */
function pair(): {
  theirs: Registry;
  ours: Registry;
  inc(action: string, n: number): void;
  observe(kind: string, v: number): void;
  plain(v: number): void;
} {
  const theirs = new Registry();
  const ours = new Registry();
  const counter = new Counter({
    name: 'x_requests_total',
    help: 'Requests',
    labelNames: ['action'],
    registers: [theirs],
  });
  const histogram = new Histogram({
    name: 'x_seconds',
    help: 'Time',
    labelNames: ['kind'],
    buckets: BOUNDS,
    registers: [theirs],
  });
  const unlabelled = new Histogram({ name: 'x_plain_seconds', help: 'Plain', buckets: BOUNDS, registers: [theirs] });
  const myCounter = new RequestCounter('x_requests_total', 'Requests', 'action', ours);
  const myHistogram = new RequestHistogram('x_seconds', 'Time', BOUNDS, 'kind', ours);
  const myPlain = new RequestHistogram('x_plain_seconds', 'Plain', BOUNDS, undefined, ours).series();
  const counters = { allow: myCounter.series('allow'), deny: myCounter.series('deny') };
  const histograms = { http: myHistogram.series('http'), connect: myHistogram.series('connect') };
  return {
    theirs,
    ours,
    inc(action, n) {
      counter.labels(action).inc(n);
      counters[action as keyof typeof counters].inc(n);
    },
    observe(kind, v) {
      histogram.labels(kind).observe(v);
      histograms[kind as keyof typeof histograms].observe(v);
    },
    plain(v) {
      unlabelled.observe(v);
      myPlain.observe(v);
    },
  };
}

describe('request metrics', () => {
  it('expose exactly what prom-client exposes for the same values, as text and as JSON', async () => {
    const m = pair();
    m.inc('allow', 1);
    m.inc('allow', 5);
    m.inc('deny', 2);
    for (const v of [0.0005, 0.001, 0.002, 0.05, 0.5, 3, 1]) m.observe('http', v);
    m.observe('connect', 20);
    for (const v of [0.0001, 0.02]) m.plain(v);
    expect(await m.ours.metrics()).toBe(await m.theirs.metrics());
    // Exemplars are off: prom-client leaves an empty `exemplar` field on some values.
    const withoutExemplars = (json: unknown): unknown =>
      JSON.parse(JSON.stringify(json, (k, v: unknown) => (k === 'exemplar' && v == null ? undefined : v)));
    expect(withoutExemplars(await m.ours.getMetricsAsJSON())).toEqual(
      withoutExemplars(await m.theirs.getMetricsAsJSON()),
    );
  });

  it('sum over workers as prom-client does', async () => {
    const m = pair();
    m.inc('allow', 3);
    m.inc('deny', 1);
    m.observe('http', 0.05);
    m.observe('connect', 0.5);
    m.plain(0.002);
    const sum = async (r: Registry): Promise<string> =>
      AggregatorRegistry.aggregate([await r.getMetricsAsJSON(), await r.getMetricsAsJSON()]).metrics();
    const ours = await sum(m.ours);
    expect(ours).toBe(await sum(m.theirs));
    expect(ours).toContain('x_requests_total{action="allow"} 6');
  });

  it('start again from zero on reset', async () => {
    const m = pair();
    m.inc('allow', 2);
    m.inc('deny', 1);
    m.observe('http', 0.05);
    m.observe('connect', 0.05);
    m.plain(0.05);
    m.ours.resetMetrics();
    expect(await m.ours.metrics()).toMatch(/x_requests_total\{action="allow"\} 0\n/);
    expect(await m.ours.metrics()).toMatch(/x_seconds_count\{kind="http"\} 0\n/);
  });
});
