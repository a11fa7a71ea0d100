/**
 * A known set of access records, shipped to the master the way slaves ship them (gzip JSON
 * batches through POST /api/v1/reports/batches), and the figures the UI must then show.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AccessRecord } from '../../proxy/src/reports/access-record.js';

interface SiteSpec {
  host: string;
  count: number;
  action: AccessRecord['action'];
  rule?: string;
  category?: string;
}

export const SITES: readonly SiteSpec[] = [
  { host: 'www.example.com', count: 30, action: 'allow' },
  { host: 'news.example.org', count: 20, action: 'allow', category: 'news' },
  { host: 'cdn.example.net', count: 12, action: 'allow' },
  { host: 'social.example', count: 8, action: 'deny', rule: 'block-social', category: 'social' },
  { host: 'ads.tracker.test', count: 5, action: 'deny', rule: 'block-ads', category: 'ads' },
];
export const SLAVES = ['edge-1', 'edge-2'] as const;
const USERS = ['alice', 'bob', 'carol', undefined] as const;
/** Minutes before "now" that records fall into: a known number of timeline buckets. */
const MINUTES_AGO = [3, 7, 12, 18, 25, 31, 38];

/** Records spread over sites, users, slaves and a few minutes of the last hour. */
export function buildRecords(now: number): AccessRecord[] {
  const records: AccessRecord[] = [];
  let i = 0;
  for (const site of SITES) {
    for (let n = 0; n < site.count; n++, i++) {
      // Mid-minute, so no record sits on a bucket edge.
      const minute = Math.floor(now / 60_000) - MINUTES_AGO[i % MINUTES_AGO.length];
      const user = USERS[i % USERS.length];
      records.push({
        time: minute * 60_000 + 30_000,
        slave: SLAVES[i % SLAVES.length],
        client: `127.0.0.${10 + (i % 5)}`,
        ...(user ? { user } : {}),
        method: 'GET',
        host: site.host,
        url: `http://${site.host}/page/${n}`,
        status: site.action === 'deny' ? 403 : 200,
        bytesUp: 300,
        bytesDown: 1000 + n,
        durationMs: 12,
        action: site.action,
        ...(site.rule ? { rule: site.rule } : {}),
        ...(site.category ? { category: site.category } : {}),
      });
    }
  }
  return records;
}

/** What the reports must say about `records`. */
export function expectedFigures(records: AccessRecord[]) {
  const count = <K extends string>(key: (r: AccessRecord) => K) => {
    const m = new Map<K, number>();
    for (const r of records) m.set(key(r), (m.get(key(r)) ?? 0) + 1);
    return m;
  };
  return {
    requests: records.length,
    blocked: records.filter((r) => r.action === 'deny').length,
    sites: count((r) => r.host),
    users: count((r) => r.user ?? '(not authenticated)'),
    slaves: count((r) => r.slave),
    categories: count((r) => r.category ?? '(uncategorised)'),
    minuteBuckets: new Set(records.map((r) => Math.floor(r.time / 60_000))).size,
  };
}

/** Posts each slave's records as its own gzip batch, as the slave's shipper does. */
export async function ingest(masterUrl: string, token: string, records: AccessRecord[]): Promise<void> {
  for (const slave of SLAVES) {
    const mine = records.filter((r) => r.slave === slave);
    const body = gzipSync(JSON.stringify({ batchId: `ui-test-${slave}-${randomUUID()}`, slave, records: mine }));
    const res = await fetch(`${masterUrl}/api/v1/reports/batches`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        'Content-Encoding': 'gzip',
        'X-SafeSquid-Slave': slave,
      },
      body,
    });
    const answer = (await res.json()) as { inserted?: number; error?: string };
    if (res.status !== 200 || answer.inserted !== mine.length) {
      throw new Error(`ingesting ${mine.length} records of ${slave}: HTTP ${res.status} ${JSON.stringify(answer)}`);
    }
  }
}
