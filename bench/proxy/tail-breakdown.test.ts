import { breakdown, classify, parseSwitches, shares, slowWindows, sumBreakdowns } from './tail-breakdown.js';

// `perf script -F pid,tid,time,event,trace --ns`, as perf 6.1 prints it.
const at = (pid: number, tid: number, s: number) => `${String(pid).padStart(6)}/${tid} ${s.toFixed(9)}:`;
const line = (pid: number, tid: number, s: number, comm: string, next: string, nextTid: number) =>
  `${at(pid, tid, s)} sched:sched_switch: prev_comm=${comm} prev_pid=${tid} prev_prio=120 prev_state=S ==> next_comm=${next} next_pid=${nextTid} next_prio=120`;
const runtime = (s: number, comm: string, tid: number, ns: number) =>
  `${at(100, tid, s)} sched:sched_stat_runtime: comm=${comm} pid=${tid} runtime=${ns} [ns]`;

describe('parseSwitches', () => {
  it.each([
    {
      name: 'each switch ends the slice of the task leaving the CPU',
      lines: [
        line(0, 0, 10.0, 'swapper/1', 'node', 100),
        line(100, 100, 10.002, 'node', 'node', 104),
        line(100, 104, 10.0025, 'node', 'kdamond.0', 72),
        "'trace' not valid for software events. Ignoring.",
        line(72, 72, 10.004, 'kdamond.0', 'swapper/1', 0),
      ],
      want: [
        { start: 10_000_000, end: 10_002_000, pid: 100, tid: 100, comm: 'node' },
        { start: 10_002_000, end: 10_002_500, pid: 100, tid: 104, comm: 'node' },
        { start: 10_002_500, end: 10_004_000, pid: 72, tid: 72, comm: 'kdamond.0' },
      ],
    },
    {
      name: 'an untraced switch out of idle: the task began its reported runtime before leaving',
      lines: [
        line(100, 100, 10.0, 'node', 'swapper/1', 0),
        runtime(10.0031, 'node', 100, 150_000),
        runtime(10.0032, 'node', 100, 50_000),
        line(100, 100, 10.0032, 'node', 'swapper/1', 0),
      ],
      want: [
        { start: 10_000_000, end: 10_003_000, pid: 0, tid: 0, comm: 'swapper/1' },
        { start: 10_003_000, end: 10_003_200, pid: 100, tid: 100, comm: 'node' },
      ],
    },
    {
      name: 'an untraced switch without a runtime since the last switch: the gap is named, not guessed',
      lines: [
        runtime(9.999, 'node', 100, 150_000),
        line(100, 100, 10.0, 'node', 'swapper/1', 0),
        line(100, 100, 10.001, 'node', 'swapper/1', 0),
      ],
      want: [{ start: 10_000_000, end: 10_001_000, pid: -1, tid: -1, comm: 'untraced: swapper/1, then node' }],
    },
  ])('$name', ({ lines, want }) => {
    expect(parseSwitches(lines.join('\n'))).toEqual(want);
  });
});

describe('slowWindows', () => {
  const fast = (n: number, from: number) => Array.from({ length: n }, (_, i) => `${from + i * 20} 10`);
  it.each([
    ['no requests', [], { count: 0, windows: [] }],
    ['one slow request among 99 fast ones', [...fast(99, 0), '500 5000'], { count: 1, windows: [[500, 5500]] }],
    [
      'the slowest 1 % by rank: 2 of 101, whatever ties the p99 value has',
      [...fast(100, 0), '500 5000'],
      {
        count: 2,
        windows: [
          [0, 10],
          [500, 5500],
        ],
      },
    ],
    [
      'overlapping slow requests merged, apart ones kept apart',
      [...fast(297, 10_000), '0 1000', '500 1000', '5000 1000'],
      {
        count: 3,
        windows: [
          [0, 1500],
          [5000, 6000],
        ],
      },
    ],
  ])('%s', (_name, lines, expected) => {
    const { count, windows } = slowWindows(lines.join('\n'));
    expect({ count, windows }).toEqual(expected);
  });
});

describe('classify', () => {
  const roles = { proxy: new Set([100]), idleLoops: new Set([200]) };
  it.each([
    [{ pid: 0, tid: 0 }, 'idle'],
    [{ pid: 200, tid: 200 }, 'idle'],
    [{ pid: 100, tid: 100 }, 'event loop'],
    [{ pid: 100, tid: 104 }, 'proxy threads'],
    [{ pid: 72, tid: 72 }, 'other'],
  ])('%o is %s', (task, expected) => {
    expect(classify({ start: 0, end: 1, comm: 'x', ...task }, roles)).toBe(expected);
  });
});

describe('breakdown', () => {
  const roles = { proxy: new Set([100]), idleLoops: new Set<number>() };
  // The CPU over 0-10 ms: the event loop 0-4, kdamond 4-6, idle 6-10.
  const slices = [
    { start: 0, end: 4000, pid: 100, tid: 100, comm: 'node' },
    { start: 4000, end: 6000, pid: 72, tid: 72, comm: 'kdamond.0' },
    { start: 6000, end: 10_000, pid: 0, tid: 0, comm: 'swapper/1' },
  ];
  // Fast requests spanning the 10 ms and one slow one in flight over 3-7 ms.
  const trace = [...Array.from({ length: 10 }, (_, i) => `${i * 1000} 50`), '9950 50', '3000 4000'].join('\n');

  it('splits the slow window by class and names the other tasks in it', () => {
    const b = breakdown(slices, trace, roles);
    expect(b.slow).toEqual(
      new Map([
        ['event loop', 1000],
        ['other', 2000],
        ['idle', 1000],
      ]),
    );
    expect(b.others).toEqual(new Map([['kdamond.0', 2000]]));
    expect(shares(b.whole)).toEqual(
      new Map([
        ['event loop', 0.4],
        ['other', 0.2],
        ['idle', 0.4],
      ]),
    );
  });

  it('adds rounds up in µs', () => {
    const b = breakdown(slices, trace, roles);
    const sum = sumBreakdowns([b, b]);
    expect(sum.slowRequests).toBe(2 * b.slowRequests);
    expect(sum.slow.get('other')).toBe(4000);
    expect(shares(sum.slow)).toEqual(shares(b.slow));
  });
});
