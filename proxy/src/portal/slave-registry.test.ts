import { SlaveRegistry } from './slave-registry.js';

describe('SlaveRegistry', () => {
  let now = 1_000_000;
  const registry = () => new SlaveRegistry({ onlineMs: 20_000, staleMs: 300_000, maxEvents: 3, now: () => now });

  it('is online while a poll is open or recently seen, then stale, then offline', () => {
    const r = registry();
    const done = r.pollStarted({ name: 's', address: '127.0.0.1', policyHash: 'h1' });
    now += 600_000;
    expect(r.list('h1')[0]).toMatchObject({ state: 'online', inSync: true });
    done();
    now += 19_000;
    expect(r.list('h1')[0].state).toBe('online');
    now += 2_000;
    expect(r.list('h1')[0].state).toBe('stale');
    now += 300_000;
    expect(r.list('h2')[0]).toMatchObject({ state: 'offline', inSync: false });
  });

  it('estimates clock skew from the least delayed recent request', () => {
    const r = registry();
    for (const delay of [120, 5, 300]) r.contact({ name: 's', address: 'a', slaveTime: now + 2_000 - delay });
    expect(r.list(undefined)[0].clockSkewMs).toBe(1_995);
  });

  it('keeps the newest events only', () => {
    const r = registry();
    r.contact({ name: 's', address: 'a' });
    for (let i = 0; i < 5; i++) r.addEvent('s', { time: i, kind: 'applied', detail: `#${i}` });
    expect(r.list(undefined)[0].events.map((e) => e.detail)).toEqual(['#2', '#3', '#4']);
  });
});

describe('SlaveRegistry snapshots and forgetting', () => {
  let now = 5_000_000;
  const registry = () => new SlaveRegistry({ onlineMs: 20_000, staleMs: 300_000, maxEvents: 3, now: () => now });

  it('restores what a snapshot holds, without open polls, and keeps live entries over saved ones', () => {
    const a = registry();
    a.pollStarted({ name: 'live', address: '10.0.0.1', version: '1', policyHash: 'h', slaveTime: now + 50 });
    a.contact({ name: 'both', address: '10.0.0.2' });
    a.addEvent('live', { time: now, kind: 'applied', detail: 'h' });
    const saved = a.snapshot();
    const b = registry();
    b.contact({ name: 'both', address: '10.9.9.9' });
    b.restore(saved);
    now += 60_000;
    const list = b.list('h');
    expect(list.map((s) => [s.name, s.address, s.state])).toEqual([
      ['both', '10.9.9.9', 'stale'],
      ['live', '10.0.0.1', 'stale'],
    ]);
    expect(list[1]).toMatchObject({ version: '1', policyHash: 'h', inSync: true, clockSkewMs: 50 });
    expect(list[1].events).toEqual([expect.objectContaining({ kind: 'applied', detail: 'h' })]);
  });

  it('forgets only slaves that are not online, and counts every change', () => {
    const r = registry();
    const end = r.pollStarted({ name: 's', address: 'a' });
    const before = r.changes;
    expect(r.forget('s')).toBe('online');
    expect(r.forget('nobody')).toBe('unknown');
    expect(r.changes).toBe(before);
    end();
    now += 30_000;
    expect(r.forget('s')).toBe('forgotten');
    expect(r.changes).toBeGreaterThan(before);
    expect(r.list(undefined)).toEqual([]);
  });
});
