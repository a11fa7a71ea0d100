/**
 * docs/metrics.md against what real processes expose: a `safesquid master` and a `safesquid slave
 * --master` on 127.0.0.1, their `/metrics` scraped after one request through the slave. Every
 * safesquid_* metric exposed must be documented with the same type and help (and every documented
 * one exposed), every label seen on a sample must be documented, and the page must be what
 * `make docs` would write from the registries now.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { collectMetricDocs, renderMetricsReference } from '../../proxy/src/docs/metrics-reference.js';
import { slaveStarted, startSafesquid, type SafesquidProcess } from '../support/safesquid-process.js';
import { startMasterProcess, type MasterProcess } from '../ui/cli-processes.js';
import { until } from '../support/until.js';

const repo = join(__dirname, '../..');
const page = () => readFileSync(join(repo, 'docs/metrics.md'), 'utf8');

interface Documented {
  type: string;
  labels: string[];
  help: string;
}

/** The tables of docs/metrics.md, per `## Slave` / `## Master` section. */
function documented(text: string): Record<string, Map<string, Documented>> {
  const out: Record<string, Map<string, Documented>> = {};
  let section = '';
  for (const line of text.split('\n')) {
    const h = /^## (\w+)/.exec(line);
    if (h) out[(section = h[1].toLowerCase())] = new Map();
    const row = /^\| `([a-z_:]+)` \| (\w+) \| ([^|]*) \| (.*) \|$/.exec(line);
    if (row && section) {
      out[section].set(row[1], { type: row[2], labels: [...row[3].matchAll(/`([^`]+)`/g)].map((m) => m[1]), help: row[4].replace(/\\\|/g, '|') });
    }
  }
  return out;
}

interface Exposed {
  type: string;
  help: string;
  labels: Set<string>;
}

/** Prometheus text format: `# HELP`, `# TYPE` and the label names of every sample, per metric family. */
function exposed(text: string): Map<string, Exposed> {
  const families = new Map<string, Exposed>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type: '', help: '', labels: new Set() }));
    return f;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]).help = meta[3].replace(/\\\\/g, '\\').replace(/\\n/g, '\n');
      else family(meta[2]).type = meta[3];
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const name = [...families.keys()].find((f) => sample[1] === f || (families.get(f)!.type === 'histogram' && /^_(bucket|sum|count)$/.test(sample[1].slice(f.length)) && sample[1].startsWith(f)));
    if (!name) throw new Error(`sample ${sample[1]} before its # TYPE line`);
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (m[1] !== 'le') families.get(name)!.labels.add(m[1]);
  }
  return families;
}

const isDefaultMetric = (name: string) => /^(safesquid_portal_)?(process_|nodejs_)/.test(name);

function compare(section: string, docs: Map<string, Documented>, live: Map<string, Exposed>): string[] {
  const problems: string[] = [];
  for (const [name, e] of live) {
    if (isDefaultMetric(name)) continue;
    const d = docs.get(name);
    if (!d) {
      problems.push(`${section}: ${name} is exposed but not documented`);
      continue;
    }
    if (d.type !== e.type) problems.push(`${section}: ${name} is a ${e.type}, documented as ${d.type}`);
    if (d.help !== e.help) problems.push(`${section}: ${name} help is "${e.help}", documented as "${d.help}"`);
    for (const l of e.labels) if (!d.labels.includes(l)) problems.push(`${section}: ${name} has label ${l}, not documented`);
  }
  for (const name of docs.keys()) if (!live.has(name)) problems.push(`${section}: ${name} is documented but not exposed`);
  if (![...live.keys()].some(isDefaultMetric)) problems.push(`${section}: no process metrics exposed, but the page says there are`);
  return problems;
}

describe('docs/metrics.md', () => {
  let master: MasterProcess | undefined;
  let slave: SafesquidProcess<{ port: number; metricsPort: number }> | undefined;

  afterAll(async () => {
    await slave?.stop();
    await master?.stop();
  });

  it('is what make docs writes from the registries', async () => {
    expect(page()).toBe(renderMetricsReference(await collectMetricDocs()));
  });

  it('lists exactly what a real slave and master expose on /metrics', async () => {
    master = await startMasterProcess();
    const m = master;
    slave = await startSafesquid(
      'slave docs',
      ['slave', '--name', 'docs', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--master', m.url, '--token-file', m.tokenFile, '--state-dir', join(m.dir, 'docs')],
      slaveStarted,
      { stopGraceMs: 5000 },
    );
    const s = slave;
    // A policy in force, and one request (denied by the default policy before any connection): labelled series exist.
    await until('the slave enforces a policy', async () => (await request(`http://127.0.0.1:${s.ready.metricsPort}/readyz`)).statusCode === 200, 15_000, 100);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: s.ready.port, path: 'http://blocked.example/', headers: { host: 'blocked.example' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);

    const scrape = async (url: string) => {
      const r = await request(url);
      expect(r.statusCode).toBe(200);
      return exposed(await r.body.text());
    };
    const docs = documented(page());
    const problems = [
      ...compare('slave', docs.slave, await scrape(`http://127.0.0.1:${s.ready.metricsPort}/metrics`)),
      ...compare('master', docs.master, await scrape(`${m.url}/metrics`)),
    ];
    expect(problems).toEqual([]);
    expect(docs.slave.size).toBeGreaterThan(10);
    expect(docs.master.size).toBeGreaterThan(5);
  });
});
