/**
 * Synthetic access records with a realistic shape: skewed hosts and users, ~5 % denied, and
 * page views (a user fetching 1-30 objects from one host in a row, ~10 on average), as a
 * proxy sees them; a denied view is one request (the block page ends it).
 */
import type { AccessRecord } from '@safesquid/proxy/reports';

const HOSTS = 5000;
const USERS = 1000;
const CATEGORIES = [
  'news',
  'social',
  'video',
  'search',
  'shopping',
  'webmail',
  'ads',
  'games',
  'finance',
  'dev',
  'cdn',
  'sports',
];

/** Small, fast, seeded PRNG (mulberry32): the same records every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RecordShape {
  slave: string;
  /** First record time; records are spread evenly over spanMs, in order. */
  start: number;
  spanMs: number;
  seed: number;
}

export function makeRecords(n: number, shape: RecordShape): AccessRecord[] {
  const rnd = prng(shape.seed);
  const out: AccessRecord[] = new Array(n);
  let h = 0;
  let u = 0;
  let action: AccessRecord['action'] = 'allow';
  let left = 0;
  for (let i = 0; i < n; i++) {
    if (left === 0) {
      // Cubing a uniform number skews towards the first hosts/users, as real traffic does.
      h = Math.floor(HOSTS * rnd() ** 3);
      u = Math.floor(USERS * rnd() ** 2);
      const roll = rnd();
      action = roll < 0.05 ? 'deny' : roll < 0.07 ? 'redirect' : 'allow';
      left = action === 'allow' ? 1 + Math.floor(rnd() ** 2 * 30) : 1;
    }
    left--;
    const host = `site${h}.example`;
    const category = h % 3 === 0 ? CATEGORIES[h % CATEGORIES.length] : undefined;
    const r: AccessRecord = {
      time: shape.start + Math.floor((i * shape.spanMs) / n),
      slave: shape.slave,
      client: `10.${(u >> 8) & 255}.${u & 255}.${1 + (h % 200)}`,
      method: h % 17 === 0 ? 'CONNECT' : 'GET',
      host,
      url: h % 17 === 0 ? `${host}:443` : `http://${host}/page/${i % 977}?q=${i}`,
      status: action === 'deny' ? 403 : action === 'redirect' ? 302 : 200,
      bytesUp: 200 + Math.floor(rnd() * 800),
      bytesDown: Math.floor(rnd() * 200_000),
      durationMs: Math.floor(rnd() * 500),
      action,
      // The shape of a real bundle hash: what every record of a slave carries.
      policyHash: 'sha256:7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730',
    };
    if (u % 10 !== 0) r.user = `user${u}`;
    if (action !== 'allow') r.rule = `rule-${h % 40}`;
    if (category) r.category = category;
    out[i] = r;
  }
  return out;
}
