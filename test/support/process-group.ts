import type { ChildHandle } from './child-process.js';

/** Every process a bench or test run starts, so that all of them are stopped by PID, also on error. */
export class ProcessGroup {
  private readonly members: ChildHandle[] = [];

  add<T extends ChildHandle>(child: T): T {
    this.members.push(child);
    return child;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((c) => c.stop().catch(() => undefined)));
  }

  /** Kills every member by PID when this process exits, also on Ctrl-C or SIGTERM. */
  killOnExit(): void {
    killOnExit(this);
  }

  /** Synchronous last resort for `process.on('exit')`. */
  killAllNow(): void {
    for (const c of this.members) c.killNow();
  }
}

/** Runs `group.killAllNow()` when this process exits, and on SIGINT or SIGTERM (then exits 130). */
export function killOnExit(group: { killAllNow(): void }): void {
  process.on('exit', () => group.killAllNow());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      group.killAllNow();
      process.exit(130);
    });
  }
}
