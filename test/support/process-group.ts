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

  /** Synchronous last resort for `process.on('exit')`. */
  killAllNow(): void {
    for (const c of this.members) c.killNow();
  }
}
