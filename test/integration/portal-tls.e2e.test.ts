/**
 * The Configuration Portal over HTTPS (`--tls-cert`/`--tls-key`): the cluster token, the admin's
 * password and every report travel encrypted. A slave given the cluster's CA (`--master-ca`) syncs
 * and reports over it; one that does not trust the certificate gets nothing and says why; a
 * renewed certificate is served without a restart. Real processes, certificates made by openssl.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { Agent, fetch } from 'undici';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { createCa, issueServerCert, type CertFiles } from '../support/test-pki.js';
import { until } from '../support/until.js';
import {
  blockingPolicy,
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type MasterProc,
  type SlaveProc,
  type Upstream,
} from './cluster-processes.js';

jest.setTimeout(60_000);

let secrets: ClusterSecrets;
let upstream: Upstream;
let ca: CertFiles;
let served: CertFiles;
let master: MasterProc;
let trusting: SlaveProc;
const others: SlaveProc[] = [];
let trustsCa: Agent;
const from = Date.now() - 60_000;

beforeAll(async () => {
  secrets = clusterSecrets('tls');
  upstream = await startUpstream();
  ca = await createCa(join(secrets.dir, 'pki'));
  served = await issueServerCert(join(secrets.dir, 'pki'), ca, 'portal');
  master = await startMaster(secrets, { extra: ['--tls-cert', served.cert, '--tls-key', served.key] });
  trustsCa = new Agent({ connect: { ca: readFileSync(ca.cert, 'utf8') } });
});

afterAll(async () => {
  await Promise.all([trusting?.stop('SIGKILL'), ...others.map((s) => s.stop('SIGKILL')), master?.stop('SIGKILL')]);
  await trustsCa?.close();
  await upstream?.close();
  secrets?.remove();
  closeAgent();
});

/** A portal call trusting the cluster CA, as the administrator (`asAdmin: false`: as nobody yet). */
async function portal(
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; asAdmin?: boolean } = {},
) {
  const res = await fetch(`${master.url}${path}`, {
    method: init.method,
    body: init.body,
    headers: { ...(init.asAdmin === false ? {} : { authorization: `Bearer ${secrets.adminToken}` }), ...init.headers },
    dispatcher: trustsCa,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : undefined,
  };
}

/** The serial number of the certificate a new TLS connection to the portal gets. */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: master.port, ca: readFileSync(ca.cert) }, () => {
      const cert: PeerCertificate = s.getPeerCertificate();
      s.end();
      resolve(cert.serialNumber);
    });
    s.on('error', reject);
  });
}

/** In the same upper-case hex as getPeerCertificate() gives it. */
const serialOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).serialNumber;

it('serves the portal over HTTPS only, and a slave trusting the cluster CA syncs and reports over it', async () => {
  expect(master.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const put = await portal('/api/v1/policy', {
    method: 'PUT',
    body: blockingPolicy('blocked'),
    headers: { 'content-type': 'application/yaml' },
  });
  expect(put.status).toBe(201);
  // Plain HTTP on the TLS port gets no portal.
  const plain = await request(`http://127.0.0.1:${master.port}/api/v1/policy/bundle`, {
    token: secrets.clusterToken,
  }).then(
    (r) => r.status,
    (e: Error) => e.message,
  );
  expect(plain).not.toBe(200);

  trusting = await startSlave(secrets, { name: 'trusting', masterUrl: master.url, extra: ['--master-ca', ca.cert] });
  await until('the slave on the policy', async () => {
    const slaves = (await portal('/api/v1/slaves')).json as { name: string; policyHash: string }[];
    return slaves.some((s) => s.name === 'trusting' && s.policyHash === put.json.hash) || undefined;
  });
  for (let i = 0; i < 5; i++) {
    const r = await request(`http://127.0.0.1:${upstream.port}/${i === 4 ? 'blocked' : 'ok'}/${i}`, {
      proxyPort: trusting.port,
    });
    expect(r.status).toBe(i === 4 ? 403 : 200);
  }
  await until(
    'the records at the master',
    async () => (await portal(`/api/v1/reports/summary?from=${from}`)).json.requests === 5 || undefined,
    15_000,
  );
});

it('logs the administrator in with a Secure cookie', async () => {
  const password = readFileSync(join(secrets.dir, 'master', 'admin-password'), 'utf8').trim();
  const login = await portal('/api/v1/session', {
    method: 'POST',
    body: JSON.stringify({ username: 'admin', password }),
    headers: { 'content-type': 'application/json' },
    asAdmin: false,
  });
  expect(login.status).toBe(200);
  expect(login.headers.get('set-cookie')).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
});

it('a slave that does not trust the certificate gets no policy and says why', async () => {
  const doubting = await startSlave(secrets, { name: 'doubting', masterUrl: master.url });
  others.push(doubting);
  await until(
    'the certificate refusal logged',
    () =>
      doubting
        .output()
        .split('\n')
        .some((l) => l.includes('master unreachable') && /self-signed|unable to (get local issuer|verify)/.test(l)) ||
      undefined,
  ).catch((err: Error) => {
    throw new Error(`${err.message}:\n${doubting.outputTail(20)}`);
  });
  const metrics = (await request(`http://127.0.0.1:${doubting.metricsPort}/metrics`)).text;
  expect(metrics).toMatch(/^safesquid_sync_master_reachable 0$/m);
  expect((await request(`http://127.0.0.1:${upstream.port}/ok/x`, { proxyPort: doubting.port })).status).toBe(503);
  const slaves = (await portal('/api/v1/slaves')).json as { name: string }[];
  expect(slaves.map((s) => s.name)).not.toContain('doubting');
});

it('serves a renewed certificate without a restart, and keeps the old one when the renewal does not load', async () => {
  const first = await servedSerial();
  expect(first).toBe(serialOf(served.cert));
  const renewed = await issueServerCert(join(secrets.dir, 'pki'), ca, 'portal-renewed');
  // As a Secret update lands: both files replaced by rename.
  writeFileSync(`${served.key}.new`, readFileSync(renewed.key));
  writeFileSync(`${served.cert}.new`, readFileSync(renewed.cert));
  renameSync(`${served.key}.new`, served.key);
  renameSync(`${served.cert}.new`, served.cert);
  const second = serialOf(renewed.cert);
  expect(second).not.toBe(first);
  await until(
    'the renewed certificate served',
    async () => (await servedSerial()) === second || undefined,
    10_000,
    200,
  );
  await until('the renewal logged', () => master.output().includes('TLS certificate renewed') || undefined);

  writeFileSync(served.cert, 'not a certificate\n');
  await until(
    'the bad renewal logged',
    () =>
      master.output().includes('the renewed TLS certificate does not load; still serving the previous one') ||
      undefined,
    10_000,
  );
  expect(await servedSerial()).toBe(second);
  // The slave goes on over the renewed certificate.
  expect(
    (await request(`http://127.0.0.1:${upstream.port}/ok/after-renewal`, { proxyPort: trusting.port })).status,
  ).toBe(200);
  await until(
    'its record at the master',
    async () => (await portal(`/api/v1/reports/summary?from=${from}`)).json.requests === 6 || undefined,
    15_000,
  );
});
