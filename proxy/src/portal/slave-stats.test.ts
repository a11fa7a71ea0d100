import { validateSlaveStats, type SlaveStatsPost } from '../reports/slave-stats-protocol.js';
import { SlaveStatsStore } from './slave-stats.js';

const counters = {
  requests: 10,
  tunnels: 2,
  denies: 3,
  errors: 1,
  bytesUp: 100,
  bytesDown: 1000,
  recordsSent: 12,
  recordsDropped: 0,
  logLinesDropped: 0,
};
const gauges = {
  activeConnections: 1,
  activeTunnels: 0,
  cpuPercent: 2.5,
  rssBytes: 50e6,
  heapUsedBytes: 20e6,
  queueRecords: 0,
  spoolBatches: 0,
  spoolBytes: 0,
};
const post = (over: Partial<SlaveStatsPost> = {}): SlaveStatsPost => ({
  time: 1,
  process: 'main',
  startedAt: 0,
  version: '1.2.3',
  counters,
  gauges,
  logs: [],
  ...over,
});

describe('validateSlaveStats', () => {
  test.each([
    [null, 'body'],
    [{ ...post(), time: 'now' }, 'time'],
    [{ ...post(), process: 'a b' }, 'process'],
    [{ ...post(), counters: { ...counters, requests: -1 } }, 'counters.requests'],
    [{ ...post(), gauges: { ...gauges, rssBytes: undefined } }, 'gauges.rssBytes'],
    [{ ...post(), logs: [{ time: 1, level: 'info', msg: 'x' }] }, 'logs[0].level'],
    [{ ...post(), logs: Array(51).fill({ time: 1, level: 'warn', msg: 'x' }) }, 'logs'],
  ])('refuses %j naming %s', (body, field) => {
    expect(() => validateSlaveStats(body)).toThrow(expect.objectContaining({ field }));
  });

  test('keeps the known fields only and cuts long messages', () => {
    const v = validateSlaveStats({
      ...post(),
      extra: 1,
      counters: { ...counters, bogus: 5 },
      logs: [{ time: 5, level: 'warn', msg: 'm'.repeat(1000), suppressedBefore: 4 }],
    });
    expect(v.counters).toEqual(counters);
    expect('extra' in v).toBe(false);
    expect(v.logs[0].msg.length).toBe(300);
    expect(v.logs[0].suppressedBefore).toBe(4);
  });
});

describe('SlaveStatsStore', () => {
  test("sums a slave's processes, and leaves out one silent for a minute", () => {
    let now = 1_000_000;
    const store = new SlaveStatsStore({ now: () => now });
    store.record('s1', post({ process: 'worker-1' }));
    store.record('s1', post({ process: 'worker-2', counters: { ...counters, requests: 5 } }));
    expect(store.get('s1')!.counters.requests).toBe(15);
    expect(store.get('s1')!.gauges.cpuPercent).toBe(5);
    now += 61_000;
    store.record('s1', post({ process: 'worker-2', counters: { ...counters, requests: 7 } }));
    expect(store.get('s1')!.counters.requests).toBe(7);
    expect(store.get('s1')!.processes.map((p) => p.process)).toEqual(['worker-1', 'worker-2']);
  });

  test('bounds history, log lines and slaves', () => {
    const store = new SlaveStatsStore({ history: 3, maxLogs: 4, maxSlaves: 2 });
    for (let i = 0; i < 5; i++)
      store.record(
        's1',
        post({
          counters: { ...counters, requests: i },
          logs: [
            { time: i, level: 'warn', msg: `a${i}` },
            { time: i, level: 'error', msg: `b${i}` },
          ],
        }),
      );
    const v = store.get('s1')!;
    expect(v.history.map((h) => h.requests)).toEqual([2, 3, 4]);
    expect(v.logs.map((l) => l.msg)).toEqual(['a3', 'b3', 'a4', 'b4']);
    expect(v.logs[0]).toMatchObject({ process: 'main', time: new Date(3).toISOString() });
    store.record('s2', post());
    store.record('s1', post());
    store.record('s3', post()); // s2 was heard from least recently
    expect(store.list().map((s) => s.name)).toEqual(['s1', 's3']);
  });
});
