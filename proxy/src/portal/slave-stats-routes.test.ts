/**
 * The statistics endpoints on a real master (startMaster on 127.0.0.1): who may post and read,
 * what a bad post is told, and that a forgotten slave leaves its statistics too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startMaster, type RunningMaster } from './master.js';
import { createEngineCompiler } from './policy-compiler.js';

const CLUSTER = 'cluster-token-for-tests';
const ADMIN = 'admin-token-for-tests';
let m: RunningMaster;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'slave-stats-routes-'));
  m = await startMaster({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    clusterToken: CLUSTER,
    adminToken: ADMIN,
    admin: { username: 'root', password: 'pw-123' },
    allow: ['127.0.0.0/8'],
    compiler: createEngineCompiler(),
    defaultPolicy: { text: 'rules: []\naccessRestriction: {defaultAction: allow}\n', origin: 'test default' },
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    slaveStateMs: { onlineMs: 200, staleMs: 400 },
  });
});
afterAll(async () => {
  await m.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const post = {
  time: Date.now(),
  process: 'main',
  startedAt: Date.now() - 1000,
  version: '1.2.3',
  counters: {
    requests: 7,
    tunnels: 1,
    denies: 2,
    errors: 0,
    bytesUp: 10,
    bytesDown: 20,
    recordsSent: 8,
    recordsDropped: 0,
    logLinesDropped: 0,
  },
  gauges: {
    activeConnections: 1,
    activeTunnels: 1,
    cpuPercent: 1,
    rssBytes: 1e6,
    heapUsedBytes: 1e5,
    queueRecords: 0,
    spoolBatches: 0,
    spoolBytes: 0,
  },
  logs: [{ time: Date.now(), level: 'error', msg: 'upstream refused' }],
};

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${m.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-safesquid-slave': 'edge-9' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined };
}

test('a slave posts with the cluster token, an administrator reads; a bad post is told which field', async () => {
  expect((await call('POST', '/slaves/edge-9/stats', 'wrong', post)).status).toBe(401);
  expect(await call('POST', '/slaves/edge-9/stats', CLUSTER, post)).toEqual({
    status: 202,
    json: { ok: true, logs: 1 },
  });
  expect((await call('GET', '/slaves/edge-9/stats', CLUSTER)).status).toBe(403);
  const view = await call('GET', '/slaves/edge-9/stats', ADMIN);
  expect(view.json).toMatchObject({ name: 'edge-9', version: '1.2.3', counters: post.counters });
  expect(view.json.logs).toEqual([expect.objectContaining({ level: 'error', msg: 'upstream refused' })]);
  expect((await call('GET', '/slave-stats', ADMIN)).json.slaves.map((s: { name: string }) => s.name)).toEqual([
    'edge-9',
  ]);
  // The registry learnt the slave (and its version) from the post, without a policy hash of its own.
  expect((await call('GET', '/slaves/edge-9', ADMIN)).json).toMatchObject({ version: '1.2.3', policyHash: null });
  const bad = await call('POST', '/slaves/edge-9/stats', CLUSTER, {
    ...post,
    gauges: { ...post.gauges, rssBytes: -1 },
  });
  expect(bad).toEqual({
    status: 400,
    json: { error: 'gauges.rssBytes: must be a number >= 0', field: 'gauges.rssBytes' },
  });
});

test('forgetting a slave in the registry forgets its statistics', async () => {
  await call('POST', '/slaves/edge-9/stats', CLUSTER, post);
  await new Promise((r) => setTimeout(r, 500)); // offline: the registry lets it go
  expect((await call('DELETE', '/slaves/edge-9', ADMIN)).status).toBe(204);
  expect((await call('GET', '/slaves/edge-9/stats', ADMIN)).status).toBe(404);
});
