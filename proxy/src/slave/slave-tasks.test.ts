import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { SyncEvent } from '../sync/protocol.js';
import { SlaveTaskRunner, withoutSecrets, type TaskChannel } from './slave-tasks.js';

describe('withoutSecrets', () => {
  it('redacts values under secret-looking keys at any depth and keeps the rest', () => {
    expect(
      withoutSecrets({
        name: 'edge-1',
        tokenFile: '/run/token',
        token: 'abc',
        auth: { ldap: { serviceBindPassword: 'pw', serviceBindPasswordFile: '/run/pw', url: 'ldap://x' } },
        list: [{ apiKey: 'k' }],
      }),
    ).toEqual({
      name: 'edge-1',
      tokenFile: '/run/token',
      token: '[redacted]',
      auth: { ldap: { serviceBindPassword: '[redacted]', serviceBindPasswordFile: '/run/pw', url: 'ldap://x' } },
      list: [{ apiKey: '[redacted]' }],
    });
  });
});

/** A master that hands out `tasks` and keeps what is posted back. */
function channel(tasks: { id: string; kind: string }[]) {
  const posted: { id: string; body: Record<string, unknown> }[] = [];
  const ch: TaskChannel = {
    masterReachable: true,
    async masterFetch(path, init) {
      if (!init?.method) return { status: 200, text: JSON.stringify(tasks.map((t) => ({ ...t, expiresAt: '' }))) };
      posted.push({ id: decodeURIComponent(path.split('/')[6]), body: JSON.parse(init.body!) });
      return { status: 202, text: '{}' };
    },
    async resync() {
      return { hash: 'h1', changed: false };
    },
    recentEvents: (): SyncEvent[] => [],
  };
  return { ch, posted };
}

describe('SlaveTaskRunner', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'slave-tasks-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const runner = (ch: TaskChannel, restart = () => undefined) =>
    new SlaveTaskRunner({
      name: 'edge-1',
      channel: ch,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      policy: { hash: 'h1' },
      restart,
      flags: {},
      version: '1.2.3',
      stateDir: dir,
    });
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('runs an id once and, after a restart of the slave, re-posts its result instead of running it again', async () => {
    const { ch, posted } = channel([{ id: 'r1', kind: 'restart' }]);
    let restarts = 0;
    runner(ch, () => void restarts++).check(1);
    await settle();
    expect(restarts).toBe(1);
    expect(posted).toEqual([{ id: 'r1', body: expect.objectContaining({ status: 'succeeded' }) }]);

    // A new process on the same state dir is handed the same task again.
    runner(ch, () => void restarts++).check(1);
    await settle();
    expect(restarts).toBe(1);
    expect(posted).toHaveLength(2);
    expect(posted[1].body).toEqual(posted[0].body);
  });

  it('fails reload-users without proxy authentication and an unknown kind, naming why', async () => {
    const { ch, posted } = channel([
      { id: 'u1', kind: 'reload-users' },
      { id: 'x1', kind: 'reboot' },
      { id: 's1', kind: 'resync' },
    ]);
    runner(ch).check(3);
    await settle();
    expect(posted.map((p) => [p.id, p.body.status, p.body.detail])).toEqual([
      ['u1', 'failed', 'this slave has no proxy authentication configured: no users to reload'],
      ['x1', 'failed', 'this slave does not know task kind "reboot"'],
      ['s1', 'succeeded', 'policy h1 in force (unchanged)'],
    ]);
  });
});
