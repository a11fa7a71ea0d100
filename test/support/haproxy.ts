/**
 * A real HAProxy (Debian's) in TCP mode in front of slaves, as a LoadBalancer Service or an
 * appliance load balancer puts them: round robin per connection, each slave health-checked on
 * its `/readyz`, a connection refused by one slave re-dispatched to another. Its runtime API (a
 * stats socket) lets a test drain a slave the way an operator would before stopping it.
 */
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { readyInDir, startChild, type ChildHandle } from './child-process.js';
import { freePort } from './free-port.js';
import { tempDir } from './temp-dir.js';
import { until } from './until.js';
import { waitForPort } from './wait-for-port.js';

export const HAPROXY = '/usr/sbin/haproxy';

export interface Backend {
  name: string;
  port: number;
  /** Where `/readyz` answers (the slave's metrics port). */
  checkPort: number;
}

export interface RunningHaproxy extends ChildHandle {
  /** The one address clients use. */
  port: number;
  /** Sends one runtime API command (`set server slaves/s1 state drain`) and returns HAProxy's answer. */
  command(cmd: string): Promise<string>;
  /** `slaves/<name>`'s state as the health checks see it: UP, DOWN, MAINT, ... */
  serverState(name: string): Promise<string>;
}

/** `sendProxy`: put a PROXY protocol header (HAProxy's send-proxy / send-proxy-v2) before each connection to a slave. */
export async function startHaproxy(
  backends: Backend[],
  opts: { sendProxy?: 'v1' | 'v2' } = {},
): Promise<RunningHaproxy> {
  const dir = tempDir('haproxy');
  const socket = join(dir.path, 'admin.sock');
  const port = await freePort();
  const conf = join(dir.path, 'haproxy.cfg');
  const sendProxy = opts.sendProxy === 'v2' ? ' send-proxy-v2' : opts.sendProxy === 'v1' ? ' send-proxy' : '';
  writeFileSync(
    conf,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      '  maxconn 2000',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  retries 3',
      '  option redispatch',
      'frontend gateway',
      `  bind 127.0.0.1:${port}`,
      '  default_backend slaves',
      'backend slaves',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      ...backends.map(
        (b) => `  server ${b.name} 127.0.0.1:${b.port}${sendProxy} check port ${b.checkPort} inter 200ms fall 2 rise 1`,
      ),
      '',
    ].join('\n'),
  );
  // -db: in the foreground, so the PID is HAProxy's own and stop() reaches it.
  const child = startChild('haproxy', HAPROXY, ['-db', '-f', conf], { stopGraceMs: 3000 });
  const command = (cmd: string) =>
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const c = createConnection(socket, () => c.end(`${cmd}\n`));
      c.setEncoding('utf8');
      c.on('data', (d: string) => (answer += d));
      c.on('end', () => resolve(answer.trim()));
      c.on('error', (err) => reject(new Error(`haproxy runtime API "${cmd}": ${err.message}`)));
    });
  const ready = await readyInDir(child, dir, async () => {
    await waitForPort(port, child);
    // The port answering is not proof enough: HAProxy is up once its runtime API names its PID.
    await until(
      `haproxy (PID ${child.pid}) answering on its runtime API ${socket}`,
      async () => {
        if (!child.running())
          throw new Error(`haproxy exited with ${child.exitDescription()} at start-up:\n${child.outputTail()}`);
        const info = await command('show info').catch(() => '');
        return new RegExp(`^Pid: ${child.pid}$`, 'm').test(info);
      },
      10_000,
    );
  });
  return Object.assign(ready, {
    port,
    command,
    async serverState(name: string) {
      // `show servers state` columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
      const line = (await command('show servers state slaves')).split('\n').find((l) => l.split(' ')[3] === name);
      if (!line) throw new Error(`haproxy knows no server slaves/${name}`);
      const [op, admin] = [Number(line.split(' ')[5]), Number(line.split(' ')[6])];
      if (admin !== 0) return admin & 0x8 ? 'DRAIN' : 'MAINT';
      return op === 2 ? 'UP' : op === 0 ? 'DOWN' : 'STARTING';
    },
  });
}
