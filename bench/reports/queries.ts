/** Latency of each report on a large table: the median of a few runs, per window. */
import type { ReportFilter, ReportStore } from '@safesquid/proxy/reports';

export interface QueryCase {
  name: string;
  run(store: ReportStore, f: ReportFilter): Promise<unknown>;
}

/** A slave with 2 % of the records, in short spells: what a slave an HPA added for a while looks like. */
export const RARE_SLAVE = 'bench-s9';

export const QUERY_CASES: QueryCase[] = [
  { name: 'summary', run: (s, f) => s.summary(f) },
  { name: 'top-sites', run: (s, f) => s.topSites({ filter: f, limit: 10 }) },
  { name: 'top-users', run: (s, f) => s.topUsers({ filter: f, limit: 10 }) },
  { name: 'blocked', run: (s, f) => s.blocked({ filter: f, limit: 10 }) },
  { name: 'per-slave', run: (s, f) => s.perSlave(f) },
  { name: 'timeline (hour)', run: (s, f) => s.timeline(f, 'hour') },
  { name: 'categories', run: (s, f) => s.categories(f) },
  { name: 'search (page 1)', run: (s, f) => s.search({ filter: f, limit: 100 }) },
  { name: 'top-sites of a user', run: (s, f) => s.topSites({ filter: { ...f, user: 'user7' }, limit: 10 }) },
  { name: 'top-users of a host', run: (s, f) => s.topUsers({ filter: { ...f, host: 'site3.example' }, limit: 10 }) },
  {
    name: 'search user+action',
    run: (s, f) => s.search({ filter: { ...f, user: 'user7', action: 'deny' }, limit: 100 }),
  },
  { name: 'search url substring', run: (s, f) => s.search({ filter: { ...f, url: '/page/976?' }, limit: 100 }) },
  { name: 'search a rare slave', run: (s, f) => s.search({ filter: { ...f, slave: RARE_SLAVE }, limit: 100 }) },
];

export async function medianMs(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
