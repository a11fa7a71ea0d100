/**
 * A real master keeps answering while slaves post 10 000-record batches (their batch size):
 * /healthz (kubelet probes; the UI and policy long-polls share the same event loop) must not wait
 * for the batches' SQLite transaction. With each group of batches written in one synchronous
 * transaction, and WAL checkpoints inside a COMMIT, /healthz waited 510-540 ms here; written in
 * slices, with checkpoints in a worker thread and one batch decoded per event-loop turn, 55-70 ms
 * (the test itself shares the machine's two cores with the master).
 */
import { gzipSync } from 'node:zlib';
import type { AccessRecord } from '../../proxy/src/reports/access-record.js';
import { closeAgent, request, startMaster, type MasterProc } from '../integration/cluster-processes.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';

/**
 * Generous: three times the stalls measured now, well under the 510 ms measured before. On a loaded
 * machine (a fresh CI host building everything else) the stalls grow with the whole ingest (571 ms in
 * a 30 s ingest, 2 % of it), so the budget is also a share of the ingest time: 1/15, three times
 * that. A loop held for each group's transaction stalls for a sixth of the ingest or more.
 */
const HEALTHZ_BUDGET_MS = 200;
const HEALTHZ_BUDGET_SHARE = 1 / 15;
const SLAVES = 4;
const ROUNDS = 3;
const RECORDS = 10_000;

let secrets: ClusterSecrets;
let master: MasterProc | undefined;

beforeAll(async () => {
  secrets = clusterSecrets();
  master = await startMaster(secrets);
});
afterAll(async () => {
  await master?.stop('SIGKILL');
  closeAgent();
  secrets?.remove();
});

/** Records over many hosts and users, so every index takes random inserts as with real traffic. */
function batchBody(slave: string, seq: number): Buffer {
  const t0 = Date.now() - 3_600_000;
  const records: AccessRecord[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const h = (i * 7919 + seq * 104_729) % 3000;
    records.push({
      time: t0 + i,
      slave,
      client: `10.0.${h % 250}.${i % 250}`,
      user: `user${(i * 31 + seq) % 700}`,
      method: 'GET',
      host: `site${h}.example`,
      url: `http://site${h}.example/page/${i}?q=${seq}`,
      status: 200,
      bytesUp: 300 + (i % 500),
      bytesDown: 1000 + i,
      durationMs: i % 300,
      action: i % 20 === 0 ? 'deny' : 'allow',
      ...(i % 20 === 0 ? { rule: `rule-${h % 30}` } : {}),
      category: 'news',
      policyHash: 'sha256-test',
    });
  }
  return gzipSync(JSON.stringify({ batchId: `${slave}-${seq}-stall`, slave, records }));
}

async function postBatch(m: MasterProc, slave: string, body: Buffer): Promise<void> {
  const r = await fetch(`${m.url}/api/v1/reports/batches`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secrets.clusterToken}`,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'x-safesquid-slave': slave,
    },
    body,
  });
  expect(r.status).toBe(200);
  expect(await r.json()).toMatchObject({ inserted: RECORDS, duplicate: false });
}

it(`answers /healthz within ${HEALTHZ_BUDGET_MS} ms while ${SLAVES} slaves post batches of ${RECORDS} records`, async () => {
  const m = master!;
  const bodies = Array.from({ length: SLAVES * ROUNDS }, (_, i) => batchBody(`s${i % SLAVES}`, i));
  let ingesting = true;
  const latencies: number[] = [];
  const probe = (async () => {
    // Bounded: the batches take a few seconds at most; 3000 probes at ≥ 2 ms apart is a hard stop.
    for (let i = 0; ingesting && i < 3000; i++) {
      const t = performance.now();
      expect((await request(`${m.url}/healthz`)).status).toBe(200);
      latencies.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  const started = performance.now();
  // Each slave posts its batches one after another, the slaves at once.
  await Promise.all(
    Array.from({ length: SLAVES }, async (_, s) => {
      for (let k = s; k < bodies.length; k += SLAVES) await postBatch(m, `s${s}`, bodies[k]);
    }),
  );
  const ingestMs = performance.now() - started;
  ingesting = false;
  await probe;

  const summary = await request(`${m.url}/api/v1/reports/summary?from=0&to=${Date.now() + 60_000}`, {
    token: secrets.adminToken,
  });
  expect(summary.json.requests).toBe(SLAVES * ROUNDS * RECORDS);
  // The probe ran throughout: a loop held for the whole ingest would have answered a few times.
  expect(latencies.length).toBeGreaterThan(10);
  const slowest = Math.max(...latencies);
  if (slowest >= Math.max(HEALTHZ_BUDGET_MS, ingestMs * HEALTHZ_BUDGET_SHARE)) {
    throw new Error(
      `/healthz took ${slowest.toFixed(0)} ms while ${bodies.length} batches of ${RECORDS} records were ingested in ${ingestMs.toFixed(0)} ms`,
    );
  }
}, 60_000);
