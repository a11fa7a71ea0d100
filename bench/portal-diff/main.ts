/**
 * bench/portal-diff: does the master keep answering `/healthz` while it diffs the largest policy
 * it accepts? A real master process on loopback gets a policy just under the 4 MiB upload limit
 * (version 1, diffed against the empty version 0) and a version 2 that changes every 50th line;
 * then `/healthz` is asked every 10 ms while the two diffs are requested `--rounds` times each.
 * Prints the diff times and the /healthz latencies during them and without them (same run).
 *
 *   node bench/dist/portal-diff/main.js [--rounds 5]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessGroup } from '@safesquid/test/dist/support/process-group.js';
import { portalListening, startSafesquid } from '@safesquid/test/dist/support/safesquid-process.js';

const MAX_POLICY_BYTES = 4 * 1024 * 1024;

function call(
  url: string,
  o: { method?: string; token?: string; body?: string } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body) headers['content-type'] = 'application/yaml';
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? 'GET', headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(120_000, () => req.destroy(new Error(`${url} timed out`)));
    req.end(o.body);
  });
}

/** A PolicySet spec of one category with as many domains as fit under the upload limit. */
function bigPolicy(changeEvery: number): string {
  const head = 'categories:\n  - name: big\n    domains:\n';
  const tail =
    'rules:\n  - {name: block-big, action: deny, match: {categories: [big]}}\naccessRestriction: {defaultAction: allow}\n';
  let body = '';
  for (let i = 0; head.length + body.length + tail.length < MAX_POLICY_BYTES - 64; i++) {
    body += `      - ${changeEvery && i % changeEvery === 0 ? 'changed' : 'domain'}-${i}.example.test\n`;
  }
  return head + body + tail;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (xs: number[]) =>
  `n=${xs.length} p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${pct(xs, 100).toFixed(1)} ms`;

/** /healthz every 10 ms until `stop()`: the latencies. */
function probe(url: string): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await call(`${url}/healthz`);
      if (r.status !== 200) throw new Error(`/healthz answered ${r.status}`);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
  const rounds = Number(values.rounds);
  const group = new ProcessGroup();
  group.killOnExit();
  const dir = mkdtempSync(join(tmpdir(), 'bench-portal-diff-'));
  try {
    const adminToken = 'bench-admin-token';
    writeFileSync(join(dir, 'token'), 'bench-cluster-token');
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
      { stopGraceMs: 5000, readyTimeoutMs: 20_000 },
    );
    const url = group.add(master).ready;
    const versions: number[] = [];
    for (const text of [bigPolicy(0), bigPolicy(50)]) {
      const r = await call(`${url}/api/v1/policy`, { method: 'PUT', token: adminToken, body: text });
      if (r.status !== 201) throw new Error(`PUT /policy (${text.length} bytes): ${r.status} ${r.text.slice(0, 300)}`);
      versions.push((JSON.parse(r.text) as { version: number }).version);
    }
    console.log(
      `policy: ${bigPolicy(0).split('\n').length} lines, ${(bigPolicy(0).length / 1048576).toFixed(2)} MiB; versions ${versions.join(', ')}`,
    );

    const idle = probe(url);
    await new Promise((r) => setTimeout(r, 2000));
    console.log(`/healthz, nothing else running:   ${fmt(await idle.stop())}`);

    for (const [what, path] of [
      [`version ${versions[0]} against the empty version 0`, `/api/v1/policy/versions/${versions[0]}/diff?against=0`],
      [
        `version ${versions[1]} against ${versions[0]} (every 50th line changed)`,
        `/api/v1/policy/versions/${versions[1]}/diff?against=${versions[0]}`,
      ],
    ]) {
      const during = probe(url);
      const times: number[] = [];
      let size = 0;
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        const r = await call(`${url}${path}`, { token: adminToken });
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text.slice(0, 300)}`);
        times.push(performance.now() - t0);
        size = r.text.length;
      }
      console.log(`diff ${what}: ${fmt(times)} (${(size / 1048576).toFixed(1)} MiB of JSON)`);
      console.log(`  /healthz meanwhile:              ${fmt(await during.stop())}`);
    }
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
