/**
 * The one way tests start a slave: `safesquid slave` on 127.0.0.1 with free ports unless told,
 * ready once it logged its started line. Stopped by PID with `stop()`.
 */
import { LOG } from '@safesquid/proxy/log-messages';
import type { ChildHandle } from './child-process.js';
import { slaveStarted, startSafesquid, type SafesquidOptions } from './safesquid-process.js';

export interface SlaveProcess extends ChildHandle {
  name: string;
  /** The first proxy port. */
  port: number;
  /** The metrics port (undefined with `--metrics-listen off`). */
  metricsPort: number;
}

export interface SlaveOptions extends SafesquidOptions {
  /** `--name`; default `e2e-slave`. */
  name?: string;
  /** `--listen`; default `127.0.0.1:0`. */
  listen?: string;
  /** `--metrics-listen`; default `127.0.0.1:0`. */
  metricsListen?: string;
}

/** Starts `safesquid slave --name --listen --metrics-listen ARGS`; `o.env` adds to this process's environment. */
export async function startSlave(args: string[], o: SlaveOptions = {}): Promise<SlaveProcess> {
  const name = o.name ?? 'e2e-slave';
  const flags = ['--listen', o.listen ?? '127.0.0.1:0', '--metrics-listen', o.metricsListen ?? '127.0.0.1:0'];
  const env = o.env && { ...process.env, ...o.env };
  const p = await startSafesquid(`slave ${name}`, ['slave', '--name', name, ...flags, ...args], slaveStarted, {
    ...o,
    env,
  });
  return Object.assign(p, { name, port: p.ready.port, metricsPort: p.ready.metricsPort });
}

/** The flags of a slave that takes its policy from a master and ships its reports there. */
export function masterFlags(master: { url: string; tokenFile: string }, stateDir: string): string[] {
  return ['--master', master.url, '--token-file', master.tokenFile, '--state-dir', stateDir];
}

/** Whether a log line (JSON text) is the slave's started line. */
export function isSlaveStartedLine(line: string): boolean {
  return line.includes(`"msg":"${LOG.slaveStarted}"`);
}
