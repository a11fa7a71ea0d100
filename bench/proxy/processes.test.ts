import { spawn, type ChildProcess } from 'node:child_process';
import { descendants, OneAtATime, processState } from './processes.js';

const stopped = (pid: number) => processState(pid) === 'T';

/** A shell with a sleeping child, so that a tree is more than one process. */
function startTree(): ChildProcess {
  return spawn('sh', ['-c', 'sleep 60 & wait'], { stdio: 'ignore' });
}

async function childOf(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const [, child] = descendants(pid);
    if (child) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process ${pid} started no child`);
}

describe('OneAtATime', () => {
  const trees: ChildProcess[] = [];
  const kill = (pid: number) => {
    for (const p of descendants(pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  afterEach(() => trees.splice(0).forEach((t) => kill(t.pid!)));

  it('stops every tree but the measured one, and resumes them all', async () => {
    trees.push(startTree(), startTree());
    const [a, b] = trees.map((t) => t.pid!);
    const [aChild, bChild] = [await childOf(a), await childOf(b)];
    const solo = new OneAtATime([a, b]);

    await solo.only(a);
    expect([a, aChild, b, bChild].map(stopped)).toEqual([false, false, true, true]);

    await solo.only(b);
    expect([a, aChild, b, bChild].map(stopped)).toEqual([true, true, false, false]);

    await solo.only(undefined);
    expect([a, aChild, b, bChild].map(stopped)).toEqual([true, true, true, true]);

    solo.resumeAll();
    // SIGCONT takes effect as it is sent.
    expect([a, aChild, b, bChild].map(stopped)).toEqual([false, false, false, false]);
  });

  it('goes on when a tree has exited', async () => {
    trees.push(startTree(), startTree());
    const [a, b] = trees.map((t) => t.pid!);
    const exited = new Promise((r) => trees[1].once('exit', r));
    kill(b);
    await exited;
    await new OneAtATime([a, b]).only(a);
    expect(stopped(a)).toBe(false);
  });
});
