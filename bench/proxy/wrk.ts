import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runToEnd } from './processes.js';

export interface WrkResult {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers plus connect, read, write and timeout errors. */
  errors: number;
}

export interface WrkLoad {
  durationS: number;
  connections: number;
  threads: number;
}

/**
 * Keep-alive GETs with wrk. Through a proxy the request line carries the absolute URL (a Lua
 * script sets `wrk.path`) and the connection goes to the proxy; direct uses origin form.
 */
export async function runWrk(
  dir: string,
  label: string,
  upstreamPort: number,
  proxyOrPort: { port: number; credentials?: string } | number | undefined,
  load: WrkLoad,
): Promise<WrkResult> {
  const proxy = typeof proxyOrPort === 'number' ? { port: proxyOrPort } : proxyOrPort;
  const upstream = `127.0.0.1:${upstreamPort}`;
  const proxyPort: number | undefined = proxy?.port;
  const script = join(dir, `${label.replace(/\W/g, '_')}.lua`);
  writeFileSync(
    script,
    [
      proxyPort === undefined ? 'wrk.path = "/bench"' : `wrk.path = "http://${upstream}/bench"`,
      `wrk.headers["Host"] = "${upstream}"`,
      ...(proxy?.credentials
        ? [`wrk.headers["Proxy-Authorization"] = "Basic ${Buffer.from(proxy.credentials).toString('base64')}"`]
        : []),
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format("WRK %d %d %d %d %d\\n", summary.requests, summary.duration,',
      '    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))',
      'end',
      '',
    ].join('\n'),
  );
  const target = `http://127.0.0.1:${proxyPort ?? upstreamPort}/`;
  const args = [
    '-t',
    String(load.threads),
    '-c',
    String(load.connections),
    '-d',
    `${load.durationS}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    target,
  ];
  const out = await runToEnd('wrk', args, (load.durationS + 30) * 1000);
  const m = /^WRK (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(out);
  if (!m) throw new Error(`wrk printed no result line:\n${out}`);
  const [requests, durationUs, p50Us, p99Us, errors] = m.slice(1).map(Number);
  return { requests, reqPerSec: requests / (durationUs / 1e6), p50Ms: p50Us / 1000, p99Ms: p99Us / 1000, errors };
}
