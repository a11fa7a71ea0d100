/**
 * bench/sync: how fast a policy change reaches every slave. A master and 10 slaves as real
 * processes on loopback; N policy saves through the portal API; for each slave, the time until it
 * reports the new hash to the master (the registry, polled every 5 ms) and, for the last slave,
 * until it enforces it. Anchor: one Squid reconfigured with `squid -k reconfigure`, same run.
 *
 *   node bench/dist/sync/main.js [--slaves 10] [--changes 20]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessGroup } from '@safesquid/test/dist/support/process-group.js';
import { portalListening, slaveStarted, startSafesquid } from '@safesquid/test/dist/support/safesquid-process.js';
import { squidReconfigureMs } from './squid-reconfigure.js';

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function call(
  url: string,
  o: { method?: string; token?: string; body?: string; proxyPort?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body) headers['content-type'] = 'application/yaml';
    const req = http.request(
      o.proxyPort
        ? { host: '127.0.0.1', port: o.proxyPort, path: url, headers: { host: u.host }, agent }
        : { host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? 'GET', headers, agent },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${url} timed out`)));
    req.end(o.body);
  });
}

const policy = (blocked: string) => `rules:
  - {name: block, action: deny, match: {urlRegex: "^/${blocked}"}}
accessRestriction: {defaultAction: allow, ssrf: {allowRanges: [127.0.0.0/8]}}
`;

// SIGTERM, SIGKILL after 5 s; 20 s to log the ready line on a busy shared host.
const startOptions = { stopGraceMs: 5000, readyTimeoutMs: 20_000 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { slaves: { type: 'string', default: '10' }, changes: { type: 'string', default: '20' } },
  });
  const slaveCount = Number(values.slaves);
  const changes = Number(values.changes);
  const group = new ProcessGroup();
  group.killOnExit();
  const dir = mkdtempSync(join(tmpdir(), 'bench-sync-'));
  const upstream = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  try {
    const token = 'bench-cluster-token';
    const adminToken = 'bench-admin-token';
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'admin-token'), adminToken);
    const master = await startSafesquid(
      'master',
      [
        'master',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        join(dir, 'master'),
        '--token-file',
        join(dir, 'token'),
        '--admin-token-file',
        join(dir, 'admin-token'),
      ],
      portalListening,
      startOptions,
    );
    const url = group.add(master).ready;
    const put = async (text: string) => {
      const r = await call(`${url}/api/v1/policy`, { method: 'PUT', token: adminToken, body: text });
      if (r.status !== 201) throw new Error(`PUT /policy: ${r.status} ${r.text}`);
      return (JSON.parse(r.text) as { hash: string }).hash;
    };
    const registry = async () =>
      JSON.parse((await call(`${url}/api/v1/slaves`, { token: adminToken })).text) as {
        name: string;
        policyHash: string;
      }[];

    let hash = await put(policy('p0'));
    const slaves: { name: string; port: number }[] = [];
    for (let i = 0; i < slaveCount; i++) {
      const name = `bench-${i}`;
      const child = await startSafesquid(
        name,
        [
          'slave',
          '--name',
          name,
          '--listen',
          '127.0.0.1:0',
          '--metrics-listen',
          'off',
          '--master',
          url,
          '--token-file',
          join(dir, 'token'),
          '--state-dir',
          join(dir, name),
        ],
        slaveStarted,
        startOptions,
      );
      slaves.push({ name, port: group.add(child).ready.port });
    }
    const waitAll = async (h: string, t0: number, limitMs: number) => {
      const seen = new Map<string, number>();
      while (seen.size < slaves.length) {
        const now = performance.now();
        for (const s of await registry()) if (s.policyHash === h && !seen.has(s.name)) seen.set(s.name, now - t0);
        if (now - t0 > limitMs)
          throw new Error(`only ${seen.size}/${slaves.length} slaves reported ${h} after ${limitMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return [...seen.values()];
    };
    await waitAll(hash, performance.now(), 30_000);

    const saved: number[] = [];
    const perSlave: number[] = [];
    const lastSlave: number[] = [];
    const enforced: number[] = [];
    for (let i = 1; i <= changes; i++) {
      const t0 = performance.now();
      hash = await put(policy(`p${i}`));
      saved.push(performance.now() - t0);
      const times = await waitAll(hash, t0, 30_000);
      perSlave.push(...times);
      lastSlave.push(Math.max(...times));
      // Enforcement on one slave, timed from the same save (the hash report comes after the swap).
      const probe = slaves[i % slaves.length];
      while ((await call(`http://127.0.0.1:${upstreamPort}/p${i}/x`, { proxyPort: probe.port })).status !== 403) {
        if (performance.now() - t0 > 30_000) throw new Error(`${probe.name} does not enforce p${i}`);
      }
      enforced.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }

    let squid: number[] | undefined;
    let squidNote = '';
    try {
      squid = await squidReconfigureMs(group, upstreamPort, Math.min(changes, 10));
    } catch (err) {
      squidNote = ` (Squid anchor failed: ${(err as Error).message.split('\n')[0]})`;
    }

    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    const row = (label: string, a: number[] | undefined) => {
      if (!a || a.length === 0)
        return `${label.padEnd(52)} ${'n/a'.padStart(9)} ${'n/a'.padStart(9)} ${'n/a'.padStart(9)}`;
      const s = sorted(a);
      const f = (v: number) => `${v.toFixed(1)} ms`.padStart(9);
      return `${label.padEnd(52)} ${f(percentile(s, 50))} ${f(percentile(s, 99))} ${f(s[s.length - 1])}`;
    };
    console.log(
      `\nbench/sync: ${changes} policy changes, ${slaveCount} slaves + master on loopback (2-core shared host)\n`,
    );
    console.log(`${'measure'.padEnd(52)} ${'p50'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(9)}`);
    console.log(row('save (PUT /policy: validate, compile, store) answered', saved));
    console.log(row(`save → slave reports new hash (each of ${slaveCount * changes})`, perSlave));
    console.log(row(`save → last of ${slaveCount} slaves reports it (per change)`, lastSlave));
    console.log(row('save → a slave enforces it (per change)', enforced));
    console.log(row(`anchor: squid -k reconfigure → Squid enforces it${squidNote}`, squid));
    console.log(`\ntarget: p99 ≤ 2000 ms to every slave; SafeSquid documents 1–5 minutes.\n`);
  } finally {
    agent.destroy();
    await group.stopAll();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench/sync: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
