import { RecordQueue } from './record-queue.js';
import type { AccessRecord } from './access-record.js';

const rec = (n: number): AccessRecord => ({
  time: n, slave: 's', client: '127.0.0.1', method: 'GET', host: 'h', url: `http://h/${n}`,
  status: 200, bytesUp: 0, bytesDown: 0, durationMs: 0, action: 'allow',
});

describe('RecordQueue', () => {
  it('drains oldest first in bounded chunks', () => {
    const q = new RecordQueue(10);
    for (let i = 0; i < 5; i++) q.push(rec(i));
    expect(q.drain(3).map((r) => r.time)).toEqual([0, 1, 2]);
    expect(q.drain(10).map((r) => r.time)).toEqual([3, 4]);
    expect(q.size).toBe(0);
  });

  it('drops the oldest at capacity and counts drops', () => {
    const q = new RecordQueue(3);
    for (let i = 0; i < 5; i++) q.push(rec(i));
    expect(q.dropped).toBe(2);
    expect(q.drain(10).map((r) => r.time)).toEqual([2, 3, 4]);
  });

  it('compacts without losing order across many cycles', () => {
    const q = new RecordQueue(100_000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 1000; i++) q.push(rec(next++));
      for (const r of q.drain(900)) expect(r.time).toBe(expected++);
    }
    expect(q.size).toBe(next - expected);
  });

  it('stays bounded in memory when nobody drains it', () => {
    const q = new RecordQueue(100);
    for (let i = 0; i < 10_000; i++) q.push(rec(i));
    expect(q.size).toBe(100);
    expect(q.dropped).toBe(9900);
    expect((q as unknown as { items: unknown[] }).items.length).toBeLessThanOrEqual(200);
    expect(q.drain(1000).map((r) => r.time)).toEqual(Array.from({ length: 100 }, (_, i) => 9900 + i));
  });

  it('rejects a nonsensical capacity', () => {
    expect(() => new RecordQueue(0)).toThrow(/positive integer/);
  });
});
