/**
 * The master's per-slave view (live statistics and the event log of sync events beside the
 * slave's warnings) and the slave's own /status page, in Chromium, against real master and
 * slave processes. Every process is stopped by PID.
 */
import { request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../support/until.js';
import { masterFlags, startSlave, type SlaveProcess } from '../support/slave-process.js';
import { launchChromium, watchPage, type LaunchedBrowser } from './browser.js';
import { startMasterProcess, type MasterProcess } from './cli-processes.js';

jest.setTimeout(60_000);

const PROXY_PROTOCOL_WARNING = 'closed a connection from a PROXY protocol load balancer: no valid header';
const DENIED = 5;

let master: MasterProcess;
let slave: SlaveProcess;
let chrome: LaunchedBrowser;
/** What the master had from the slave once the traffic above was in. */
let counters: Record<string, number>;

const adminGet = async (path: string) => {
  const res = await fetch(`${master.url}/api/v1${path}`, { headers: { Authorization: `Bearer ${master.adminToken}` } });
  return { status: res.status, json: (await res.json()) as any };
};

/** GET `url` through the slave; resolves with the status. */
function viaProxy(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: slave.port, path: url, headers: { Host: new URL(url).host } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  master = await startMasterProcess();
  // Connections from 127.0.0.2 must start with a PROXY protocol header: a warning on demand.
  slave = await startSlave(
    [...masterFlags(master, join(master.dir, 'edge-1')), '--proxy-protocol-from', '127.0.0.2/32'],
    { name: 'edge-1' },
  );
  await until("the slave enforcing the master's policy", async () => {
    const res = await fetch(`http://127.0.0.1:${slave.metricsPort}/status.json`);
    return ((await res.json()) as { policy: { source: string | null } }).policy.source === 'master';
  });
  // The default policy denies blocked.example before any DNS lookup: loopback only.
  for (let i = 0; i < DENIED; i++) expect(await viaProxy(`http://blocked.example/stats/${i}`)).toBe(403);
  await until(
    'the denials at the master',
    async () => (await adminGet('/slaves/edge-1/stats')).json.counters?.denies === DENIED,
    20_000,
    200,
  );
  await new Promise<void>((resolve, reject) => {
    const c = createConnection({ host: '127.0.0.1', port: slave.port, localAddress: '127.0.0.2' }, () =>
      c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    c.on('error', reject);
    c.on('close', () => resolve());
    c.resume();
  });
  const view = await until(
    'the warning at the master',
    async () => {
      const r = await adminGet('/slaves/edge-1/stats');
      return r.json.logs?.some((l: { msg: string }) => l.msg === PROXY_PROTOCOL_WARNING) ? r.json : undefined;
    },
    20_000,
    200,
  );
  // The next post: counters read after the warning was logged.
  counters = await until(
    'the post after the warning',
    async () => {
      const r = await adminGet('/slaves/edge-1/stats');
      return r.json.updatedAt !== view.updatedAt ? (r.json.counters as Record<string, number>) : undefined;
    },
    20_000,
    200,
  );
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await slave?.stop();
  await chrome?.close();
  await master?.stop();
});

test("the master's slave page shows the slave's live numbers and its sync events beside its warnings", async () => {
  const context = await chrome.browser.newContext({ viewport: { width: 1360, height: 900 } });
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  const problems = watchPage(page, [{ status: 401, path: '/api/v1/session' }]);
  await page.goto(`${master.url}/`);
  await page.fill('#login-username', master.admin.username);
  await page.fill('#login-password', master.admin.password);
  await page.press('#login-password', 'Enter');
  await page.locator('#overview-updated', { hasText: /^Updated/ }).waitFor();
  // From the registry table to the slave's page.
  await page.goto(`${master.url}/#/slaves`);
  await page.click('tr[data-slave="edge-1"] a.slave-link');
  await page.waitForURL(/#\/slave\?name=edge-1$/);
  await page.locator('#slave-title', { hasText: 'edge-1' }).waitFor();
  const value = (id: string) => page.locator(`#${id} .card-value`).innerText();
  await page.locator('#card-denies .card-value').waitFor();
  expect(counters.denies).toBeGreaterThanOrEqual(DENIED);
  expect(await value('card-denies')).toBe(String(counters.denies));
  expect(await value('card-requests')).toBe(String(counters.requests));
  expect(await value('card-errors')).toBe(String(counters.errors));
  expect(counters.errors).toBeGreaterThan(0); // the connection without a PROXY header
  expect(await value('card-spool')).toBe('0');
  expect(await page.locator('#card-cpu .card-note').innerText()).toMatch(/memory \d/);
  // One log: the sync event that applied the policy, and the slave's warning.
  const rows = page.locator('#slave-event-table tbody tr');
  await page.locator('#slave-event-table tr[data-source="log"][data-kind="warn"]').waitFor();
  const all = await rows.evaluateAll((trs) =>
    trs.map((tr) => ({
      source: tr.getAttribute('data-source'),
      kind: tr.getAttribute('data-kind'),
      text: (tr.lastElementChild?.textContent ?? '').trim(),
    })),
  );
  expect(all.some((r) => r.source === 'sync' && r.kind === 'applied')).toBe(true);
  const warning = all.find((r) => r.source === 'log' && r.text.includes(PROXY_PROTOCOL_WARNING));
  expect(warning?.kind).toBe('warn');
  expect(warning?.text).toContain('127.0.0.2');
  // The page follows the slave live: five more denials show within two posts (every 5 s).
  for (let i = 0; i < DENIED; i++) expect(await viaProxy(`http://blocked.example/more/${i}`)).toBe(403);
  await page
    .locator('#card-denies .card-value', { hasText: String(counters.denies + DENIED) })
    .waitFor({ timeout: 15_000 });
  await page.locator('#slave-updated', { hasText: /^Updated/ }).waitFor();
  // For a person to look at, only when asked (as portal-ui.e2e.test.ts).
  if (process.env.SAFESQUID_UI_SHOTS === '1')
    await page.screenshot({ path: join(tmpdir(), 'safesquid-slave-view.png'), fullPage: true });
  await context.close();
  expect(problems.unexpected()).toEqual([]);
});

test("the slave's /status page shows its policy and where it came from, its counters, and a master outage", async () => {
  const policy = (await adminGet('/cluster')).json.policy as { hash: string };
  const context = await chrome.browser.newContext({ viewport: { width: 1100, height: 900 } });
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  const problems = watchPage(page);
  const statusUrl = `http://127.0.0.1:${slave.metricsPort}/status`;
  await page.goto(statusUrl);
  const cell = (id: string) => page.locator(`#${id}`).innerText();
  expect(await cell('slave-name')).toBe('edge-1');
  expect(await cell('policy-hash')).toBe(policy.hash);
  expect(await cell('policy-source')).toBe('master');
  expect(await cell('master-url')).toBe(master.url);
  expect(await cell('master-reachable')).toBe('yes');
  expect(await cell('c-denies')).toBe(String(counters.denies + DENIED));
  expect(await page.locator('#events tbody').innerText()).toContain('applied');
  expect(await page.locator('#logs tbody').innerText()).toContain(PROXY_PROTOCOL_WARNING);
  if (process.env.SAFESQUID_UI_SHOTS === '1')
    await page.screenshot({ path: join(tmpdir(), 'safesquid-slave-status.png'), fullPage: true });
  // The JSON behind it, by content negotiation (the page itself may not fetch: its CSP is default-src 'none').
  const res = await context.request.get(statusUrl, { headers: { Accept: 'application/json' } });
  expect(res.headers()['content-type']).toBe('application/json');
  const json = (await res.json()) as { policy: Record<string, unknown> };
  expect(json.policy).toMatchObject({ hash: policy.hash, source: 'master' });

  await master.stop();
  await until(
    'the slave noticing the outage',
    async () => {
      await page.goto(statusUrl);
      return (await cell('master-reachable')).startsWith('no');
    },
    15_000,
    200,
  );
  expect(await cell('policy-hash')).toBe(policy.hash);
  expect(await page.locator('#events tbody tr').first().innerText()).toContain('unreachable');
  await context.close();
  expect(problems.unexpected()).toEqual([]);
});
