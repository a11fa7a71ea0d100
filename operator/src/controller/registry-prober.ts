import type { Logger } from 'pino';
import type { RegistryAnswer } from './cluster-status.js';
import { readSlaveRegistry } from './master-registry.js';

interface Target {
  url: string;
  token: string;
  answer?: RegistryAnswer;
  /** When the last probe finished (0: never). */
  at: number;
  inflight: boolean;
}

export interface RegistryProberOptions {
  intervalMs?: number;
  concurrency?: number;
  timeoutMs?: number;
  /** Called with the cluster key when its answer changed in a way status can show. */
  onChange: (key: string) => void;
  logger: Logger;
  read?: typeof readSlaveRegistry;
}

/**
 * Polls each available master's slave registry in the background (every 10 s, a few at a time), so a
 * reconcile reads the latest answer instead of waiting on the network (a slow DNS lookup for one
 * master would otherwise hold a worker for seconds), and a change in the answer queues the cluster.
 */
export class RegistryProber {
  private readonly targets = new Map<string, Target>();
  private readonly intervalMs: number;
  private readonly concurrency: number;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RegistryProberOptions) {
    this.intervalMs = o.intervalMs ?? 10_000;
    this.concurrency = o.concurrency ?? 8;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The latest answer for this cluster's master (undefined until the first probe ends); registers it until forget(). */
  latest(key: string, url: string, token: string): RegistryAnswer | undefined {
    let t = this.targets.get(key);
    if (!t || t.url !== url || t.token !== token) {
      t = { url, token, at: 0, inflight: false };
      this.targets.set(key, t);
      this.tick();
    }
    return t.answer;
  }

  forget(key: string): void {
    this.targets.delete(key);
  }

  private tick(): void {
    const now = Date.now();
    for (const [key, t] of this.targets) {
      if (this.running >= this.concurrency) break;
      if (t.inflight || now - t.at < this.intervalMs) continue;
      t.inflight = true;
      this.running++;
      void (this.o.read ?? readSlaveRegistry)(t.url, t.token, this.o.timeoutMs ?? 3000)
        .then((answer) => {
          const before = JSON.stringify(summary(t.answer));
          t.answer = answer;
          if (!answer.ok)
            this.o.logger.debug({ cluster: key, url: t.url, err: answer.error }, 'slave registry unreachable');
          if (this.targets.get(key) === t && JSON.stringify(summary(answer)) !== before) this.o.onChange(key);
        })
        .finally(() => {
          t.inflight = false;
          t.at = Date.now();
          this.running--;
        });
    }
  }
}

/** What status reads from an answer: which slave holds which hash (reachability, not the error's wording). */
function summary(a: RegistryAnswer | undefined): unknown {
  if (!a) return undefined;
  if (!a.ok) return 'unreachable';
  return a.slaves.map((s) => [s.name, s.policyHash]).sort();
}
