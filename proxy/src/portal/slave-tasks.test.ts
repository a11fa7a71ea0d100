import { SlaveTasks, TaskInputError } from './slave-tasks.js';

function store() {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const tasks = new SlaveTasks({ now: () => now });
  let n = 0;
  const create = (req: Record<string, unknown>, known = ['s1', 's2']) =>
    tasks.create(req, known, 'admin', () => `t${++n}`);
  return { tasks, create, advance: (ms: number) => (now += ms) };
}

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof TaskInputError) return `${err.status} ${err.field}`;
    throw err;
  }
  return undefined;
};

describe('SlaveTasks', () => {
  it('names the field of bad input', () => {
    const { create } = store();
    expect(fieldOf(() => create({ kind: 'reboot' }))).toBe('400 kind');
    expect(fieldOf(() => create({ kind: 'resync', slave: 'nobody' }))).toBe('400 slave');
    expect(fieldOf(() => create({ kind: 'resync', slave: 'bad name' }))).toBe('400 slave');
    expect(fieldOf(() => create({ kind: 'resync', id: 'has space' }))).toBe('400 id');
    expect(fieldOf(() => create({ kind: 'resync', expiresInSeconds: 0 }))).toBe('400 expiresInSeconds');
    expect(fieldOf(() => create({ kind: 'resync', expiresAt: '2020-01-01T00:00:00Z' }))).toBe('400 expiresAt');
    expect(fieldOf(() => create({ kind: 'resync' }, []))).toBe('400 slave');
  });

  it('is idempotent by id and refuses the same id with other content', () => {
    const { tasks, create } = store();
    const first = create({ id: 'a', kind: 'resync', slave: 's1' });
    expect(first.created).toBe(true);
    const again = create({ id: 'a', kind: 'resync', slave: 's1' });
    expect(again).toEqual({ task: first.task, created: false });
    expect(fieldOf(() => create({ id: 'a', kind: 'restart', slave: 's1' }))).toBe('409 id');
    expect(tasks.takeFor('s1')).toHaveLength(1);
    expect(tasks.takeFor('s2')).toHaveLength(0);
  });

  it('fans "*" out to the known slaves and keeps one outcome each', () => {
    const { tasks, create } = store();
    create({ id: 'all', kind: 'diagnostics' });
    expect(tasks.hasUndelivered('s1')).toBe(true);
    expect(tasks.takeFor('s1').map((t) => t.id)).toEqual(['all']);
    expect(tasks.hasUndelivered('s1')).toBe(false);
    expect(tasks.openCount('s1')).toBe(1);
    tasks.complete('s1', 'all', { status: 'succeeded', detail: 'ok', data: { version: '1' } });
    // A repeated result does not overwrite the first.
    tasks.complete('s1', 'all', { status: 'failed', detail: 'late duplicate' });
    const view = tasks.get('all')!;
    expect(view.state).toBe('open');
    expect(view.slaves.map((s) => [s.name, s.state])).toEqual([
      ['s1', 'succeeded'],
      ['s2', 'pending'],
    ]);
    expect(tasks.lastDiagnostics('s1')?.data).toEqual({ version: '1' });
    expect(tasks.complete('s3', 'all', { status: 'succeeded', detail: '' })).toBe('not-for-slave');
  });

  it('expires tasks nobody finished, and no longer hands them out', () => {
    const { tasks, create, advance } = store();
    create({ id: 'e', kind: 'resync', slave: 's1', expiresInSeconds: 60 });
    advance(61_000);
    expect(tasks.takeFor('s1')).toEqual([]);
    expect(tasks.openCount('s1')).toBe(0);
    const o = tasks.get('e')!.slaves[0];
    expect(o.state).toBe('expired');
    expect(o.detail).toMatch(/before the slave fetched it/);
    expect(tasks.get('e')!.state).toBe('done');
  });

  it('survives a snapshot and restore', () => {
    const { tasks, create } = store();
    create({ id: 'p', kind: 'reload-users', slave: 's2' });
    const other = new SlaveTasks();
    other.restore(JSON.parse(JSON.stringify(tasks.snapshot())));
    other.restore([{ id: 'junk' }]);
    expect(other.list().map((t) => t.id)).toEqual(['p']);
  });
});
