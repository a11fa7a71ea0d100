/**
 * Policy engine benchmark: decision throughput and latency for a small policy (10 rules, the
 * anchor) and a large one (1 000 rules + 100 000 category domains), in one run, plus the time to
 * compile the large one. Both policies share the same "always" rules (no domain or category
 * condition) and decide the same request stream, so the ratio shows what the size alone costs.
 *
 * Timing: a single decision is shorter than the timer's own overhead, so decisions are timed in
 * batches (default 64) with process.hrtime.bigint(); p50/p99 are over per-batch means.
 *
 *   node bench/dist/policy/main.js [--seconds 3] [--batch 64]
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  compilePolicy,
  compilePolicyBundle,
  loadCompiledPolicy,
  type CompiledPolicy,
  type PolicySetSource,
  type PolicySetSpec,
  type RequestContext,
  type RuleSpec,
} from '@safesquid/proxy/policy';
import { alignedRows, underline } from '../aligned-rows.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, batch: { type: 'string', default: '64' } },
});
const SECONDS = Math.min(Math.max(Number(values.seconds), 0.5), 30);
const BATCH = Math.min(Math.max(Math.floor(Number(values.batch)), 1), 4096);
/** Requests in the stream (cycled): as many distinct hosts as a busy gateway sees in a few seconds. */
const REQUESTS = 16384;

/** Deterministic PRNG so every run sees the same requests. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shape {
  categories: number;
  domainsPerCategory: number;
  categoryRules: number;
  domainRules: number;
  domainRegexRules: number;
}

/** The four rules with no domain or category condition: candidates for every request in both policies. */
const ALWAYS_RULES: RuleSpec[] = [
  {
    name: 'audit-curl',
    action: 'deny',
    mode: 'report',
    match: { requestHeaders: [{ name: 'User-Agent', regex: '^curl/' }] },
  },
  {
    name: 'no-odd-connect',
    action: 'deny',
    message: 'CONNECT only to 443',
    match: { methods: ['CONNECT'], ports: [22, 25, 8443] },
  },
  {
    name: 'guest-net',
    action: 'deny',
    message: 'Guests may not',
    match: { sources: ['192.168.100.0/24'], time: 'night' },
  },
  { name: 'allow-lan', action: 'allow', match: { sources: ['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'] } },
];

function buildPolicy(shape: Shape): { sets: PolicySetSource[]; catHosts: string[]; ruleHosts: string[] } {
  const categories: NonNullable<PolicySetSpec['categories']> = [];
  const catHosts: string[] = [];
  for (let c = 0; c < shape.categories; c++) {
    const domains: string[] = [];
    for (let d = 0; d < shape.domainsPerCategory; d++) {
      // Half exact hosts, half wildcards (requests then come for a subdomain).
      if (d % 2 === 0) {
        domains.push(`site${d}-c${c}.example.com`);
        catHosts.push(`site${d}-c${c}.example.com`);
      } else {
        domains.push(`*.zone${d}-c${c}.example.net`);
        catHosts.push(`www.zone${d}-c${c}.example.net`);
      }
    }
    categories.push({ name: `cat-${c}`, domains });
  }
  const rules: RuleSpec[] = [];
  const ruleHosts: string[] = [];
  for (let c = 0; c < shape.categoryRules; c++) {
    rules.push({
      name: `block-cat-${c}`,
      action: 'deny',
      message: `Category ${c} is blocked`,
      match: c % 3 === 0 ? { categories: [`cat-${c}`], groups: ['staff'], time: 'work' } : { categories: [`cat-${c}`] },
    });
  }
  for (let i = 0; i < shape.domainRules; i++) {
    const actions = ['allow', 'deny', 'redirect'] as const;
    const action = actions[i % 3];
    rules.push({
      name: `domain-${i}`,
      action,
      ...(action === 'redirect' ? { redirectTo: `https://intranet.example/moved/${i}` } : {}),
      match: {
        domains: [`r${i}-a.example.org`, `*.r${i}-b.example.org`],
        ...(i % 5 === 0 ? { methods: ['GET', 'HEAD'] } : {}),
      },
    });
    ruleHosts.push(`r${i}-a.example.org`, `cdn.r${i}-b.example.org`);
  }
  for (let i = 0; i < shape.domainRegexRules; i++) {
    rules.push({
      name: `downloads-${i}`,
      action: 'deny',
      match: { domains: [`.dl${i}.example.io`], urlRegex: '\\.(exe|msi|dmg)$' },
    });
    ruleHosts.push(`files.dl${i}.example.io`);
  }
  rules.push(...ALWAYS_RULES);
  const spec: PolicySetSpec = {
    categories,
    userGroups: [{ name: 'staff', users: ['alice', 'bob', 'carol'] }],
    timeProfiles: [
      { name: 'work', days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '09:00', to: '18:00', timeZone: 'Asia/Kolkata' },
      { name: 'night', from: '22:00', to: '06:00', timeZone: 'Europe/Berlin' },
    ],
    rules,
    accessRestriction: { defaultAction: 'deny' },
  };
  return { sets: [{ name: 'bench', spec }], catHosts, ruleHosts };
}

/** 40% category hosts, 30% rule hosts, 30% hosts no list knows; mixed clients, users, methods. */
function requests(catHosts: string[], ruleHosts: string[], count: number): RequestContext[] {
  const rand = rng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const out: RequestContext[] = [];
  for (let i = 0; i < count; i++) {
    const r = rand();
    const host =
      r < 0.4 ? pick(catHosts) : r < 0.7 ? pick(ruleHosts) : `unknown${Math.floor(rand() * 1e6)}.example.info`;
    const connect = rand() < 0.3;
    out.push({
      clientIp: pick(['10.1.2.3', '10.20.30.40', '192.168.1.7', '192.168.100.9', 'fd00::42', '203.0.113.5']),
      user: pick([undefined, 'alice', 'dave']),
      method: connect ? 'CONNECT' : pick(['GET', 'GET', 'GET', 'POST']),
      host: rand() < 0.1 ? host.toUpperCase() : host,
      port: connect ? pick([443, 443, 443, 8443]) : 80,
      path: connect ? '' : pick(['/', '/index.html', '/downloads/setup.exe', '/api/v1/items?page=2']),
      scheme: connect ? 'https' : 'http',
      headers: { 'user-agent': pick(['Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0', 'curl/8.5.0']) },
    });
  }
  return out;
}

interface Figures {
  decisionsPerSecond: number;
  /** Mean CPU time per decision: unlike wall time, not inflated while other processes hold the cores. */
  cpuNsPerDecision: number;
  p50: number;
  p99: number;
  decisions: number;
  actions: Record<string, number>;
}

/** Timing state of one policy, accumulated over several slices. */
class Run {
  readonly samples: number[] = [];
  decisions = 0;
  elapsedNs = 0n;
  cpuMicros = 0;
  private next = 0;
  private sink = 0;

  constructor(
    readonly policy: CompiledPolicy,
    readonly reqs: RequestContext[],
  ) {}

  warmUp(): void {
    // Let V8 optimise the path (and the time-zone caches fill) before timing.
    for (let i = 0; i < 200_000; i++)
      this.sink += this.policy.evaluateRequest(this.reqs[i % this.reqs.length]).action.length;
  }

  slice(seconds: number): void {
    const { policy, reqs } = this;
    const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
    const cpuStart = process.cpuUsage();
    let k = this.next;
    while (process.hrtime.bigint() < deadline && this.samples.length < 5_000_000) {
      const start = process.hrtime.bigint();
      for (let b = 0; b < BATCH; b++) {
        this.sink += policy.evaluateRequest(reqs[k]).action.length;
        if (++k === reqs.length) k = 0;
      }
      const ns = process.hrtime.bigint() - start;
      this.elapsedNs += ns;
      this.samples.push(Number(ns) / BATCH);
      this.decisions += BATCH;
    }
    const cpu = process.cpuUsage(cpuStart);
    this.cpuMicros += cpu.user + cpu.system;
    this.next = k;
  }

  figures(): Figures {
    if (this.sink === 0) throw new Error('no decisions were made');
    const actions: Record<string, number> = {};
    for (const r of this.reqs) {
      const a = this.policy.evaluateRequest(r).action;
      actions[a] = (actions[a] ?? 0) + 1;
    }
    const sorted = [...this.samples].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
    return {
      decisionsPerSecond: this.decisions / (Number(this.elapsedNs) / 1e9),
      cpuNsPerDecision: (this.cpuMicros * 1000) / this.decisions,
      p50: pct(50),
      p99: pct(99),
      decisions: this.decisions,
      actions,
    };
  }
}

/** Alternates short slices between the runs so that a change in machine load hits both alike. */
function measure(runs: Run[]): Figures[] {
  for (const r of runs) r.warmUp();
  const slice = 0.25;
  for (let t = 0; t < SECONDS; t += slice) for (const r of runs) r.slice(slice);
  return runs.map((r) => r.figures());
}

/** Wall and CPU milliseconds of `fn`. */
function timed<T>(fn: () => T): { value: T; wallMs: number; cpuMs: number } {
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const value = fn();
  const used = process.cpuUsage(cpu);
  return { value, wallMs: Number(process.hrtime.bigint() - wall) / 1e6, cpuMs: (used.user + used.system) / 1000 };
}

function main(): void {
  const small = buildPolicy({
    categories: 3,
    domainsPerCategory: 100,
    categoryRules: 3,
    domainRules: 3,
    domainRegexRules: 0,
  });
  const large = buildPolicy({
    categories: 50,
    domainsPerCategory: 2000,
    categoryRules: 50,
    domainRules: 936,
    domainRegexRules: 10,
  });
  const ruleCount = (p: typeof small) => p.sets[0].spec.rules!.length;
  const domainCount = (p: typeof small) => p.sets[0].spec.categories!.reduce((n, c) => n + c.domains.length, 0);

  // Compile: validate + order + canonical JSON + sha256 (what the operator/master does), then
  // verify + index (what every slave does on load), then both in one step.
  const bundling = timed(() => compilePolicyBundle(large.sets));
  const bundle = bundling.value;
  const wire = JSON.parse(JSON.stringify(bundle));
  const loading = timed(() => loadCompiledPolicy(wire));
  const compiling = timed(() => compilePolicy(large.sets));
  const largePolicy = compiling.value;
  if (loading.value.hash !== largePolicy.hash) throw new Error('hash differs between compile paths');
  const smallPolicy = compilePolicy(small.sets);

  // One request stream for both: traffic does not change when the policy grows. Its hosts come
  // from the large policy's lists (the small policy's lists are a subset) and from nowhere.
  const stream = requests(large.catHosts, large.ruleHosts, REQUESTS);
  const [s, l] = measure([new Run(smallPolicy, stream), new Run(largePolicy, stream)]);

  const fmt = (n: number, digits = 0) =>
    n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const mix = (f: Figures) =>
    Object.entries(f.actions)
      .map(([a, n]) => `${a} ${fmt((100 * n) / REQUESTS)}%`)
      .join(', ');
  const rows: string[][] = [
    [
      'figure',
      `small (anchor): ${ruleCount(small)} rules, ${fmt(domainCount(small))} domains`,
      `large: ${fmt(ruleCount(large))} rules, ${fmt(domainCount(large))} domains`,
      'large / small',
      'target',
    ],
    [
      'decisions/s',
      fmt(s.decisionsPerSecond),
      fmt(l.decisionsPerSecond),
      fmt(s.decisionsPerSecond / l.decisionsPerSecond, 2) + '× slower',
      '',
    ],
    ['p50 decision µs', fmt(s.p50 / 1000, 3), fmt(l.p50 / 1000, 3), fmt(l.p50 / s.p50, 2) + '×', '≤ 1.5×, ≤ 2 µs'],
    ['p99 decision µs', fmt(s.p99 / 1000, 3), fmt(l.p99 / 1000, 3), fmt(l.p99 / s.p99, 2) + '×', ''],
    [
      'mean CPU µs/decision',
      fmt(s.cpuNsPerDecision / 1000, 3),
      fmt(l.cpuNsPerDecision / 1000, 3),
      fmt(l.cpuNsPerDecision / s.cpuNsPerDecision, 2) + '×',
      '',
    ],
    ['decisions timed', fmt(s.decisions), fmt(l.decisions), '', ''],
    ['action mix', mix(s), mix(l), '', ''],
  ];
  const out = [
    `policy engine benchmark — node ${process.version}, ${SECONDS}s per policy in alternating 0.25 s slices, timed in batches of ${BATCH} decisions`,
    '(p50/p99 are over per-batch means: one decision is shorter than the timer overhead)',
    `both policies decide the same stream of ${fmt(REQUESTS)} requests: 40% category hosts, 30% rule hosts, 30% unknown hosts (of the large policy)`,
    '',
    ...alignedRows([rows[0], underline(rows), ...rows.slice(1)], new Set(rows[0].keys())),
    '',
    `compile of the large policy (${fmt(domainCount(large))} category domains, ${fmt(ruleCount(large))} rules):`,
    `  step                                                           wall ms   CPU ms`,
    `  compilePolicyBundle (validate, order, canonical JSON, sha256)  ${fmt(bundling.wallMs).padStart(7)}  ${fmt(bundling.cpuMs).padStart(7)}`,
    `  loadCompiledPolicy  (verify hash, re-validate, build indexes)  ${fmt(loading.wallMs).padStart(7)}  ${fmt(loading.cpuMs).padStart(7)}`,
    `  compilePolicy       (bundle + indexes, as one step)            ${fmt(compiling.wallMs).padStart(7)}  ${fmt(compiling.cpuMs).padStart(7)}   target ≤ 1000 ms`,
    `  bundle JSON size: ${fmt(JSON.stringify(bundle).length / 1024 / 1024, 1)} MiB`,
  ];
  const load = loadavg()[0];
  if (load > availableParallelism()) {
    out.push(
      '',
      `note: load average ${fmt(load, 1)} on ${availableParallelism()} CPUs while measuring: wall-clock figures include time spent descheduled.`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
}

main();
