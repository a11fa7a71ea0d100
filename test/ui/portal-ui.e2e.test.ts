/**
 * The portal's web UI in a real headless Chromium against a real master process and two real
 * slave processes: login, overview of the slaves, policy edit/validate/save/diff/rollback (and
 * the slaves following it), reports over records ingested through the real batch endpoint, chart
 * rendering checked on screenshots, CSV export, search, keyboard use, read-only Kubernetes mode.
 * Any console error, page error, failed request or unexpected HTTP error fails the test.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { AccessRecord } from '../../proxy/src/reports/access-record.js';
import { launchChromium, watchPage, type LaunchedBrowser, type PageProblems } from './browser.js';
import { startMasterProcess, startSlaveProcess, type MasterProcess, type SlaveProcess } from './cli-processes.js';
import { countPixels } from './png-pixels.js';
import { startPollingSlave, type PollingSlave } from './polling-slave.js';
import { buildRecords, expectedFigures, ingest, SITES } from './report-fixture.js';

/** The UI's series colours (proxy/ui/js/charts.js). */
const REQUESTS_BLUE = '#2563eb';
const BLOCKED_RED = '#dc2626';
/** Screenshots are kept for a person to look at only when asked: SAFESQUID_UI_SHOTS=1. */
const KEEP_SHOTS = process.env.SAFESQUID_UI_SHOTS === '1';
const SHOTS = mkdtempSync(join(tmpdir(), 'safesquid-ui-shots-'));

let master: MasterProcess;
let chrome: LaunchedBrowser;
const slaves: SlaveProcess[] = [];
/** A slave of an older release with a slow clock, speaking the sync protocol directly. */
let legacy: PollingSlave | undefined;
let records: AccessRecord[];
let figures: ReturnType<typeof expectedFigures>;

beforeAll(async () => {
  master = await startMasterProcess();
  slaves.push(await startSlaveProcess(master, 'edge-1'), await startSlaveProcess(master, 'edge-2'));
  legacy = await startPollingSlave({
    masterUrl: master.url,
    token: master.clusterToken,
    name: 'edge-legacy',
    version: '0.0.9',
    skewMs: -3500,
  });
  records = buildRecords(Date.now());
  figures = expectedFigures(records);
  await ingest(master.url, master.clusterToken, records);
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await legacy?.stop();
  for (const s of slaves) await s.stop();
  await chrome?.close();
  await master?.stop();
  if (KEEP_SHOTS) process.stdout.write(`UI screenshots: ${SHOTS}\n`);
  else rmSync(SHOTS, { recursive: true, force: true });
});

interface Session {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

/** A fresh browser context on the portal, not signed in. */
async function opened(m: MasterProcess = master): Promise<Session> {
  const context = await chrome.browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  // Well inside jest's 30 s, so a stuck wait names its selector.
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  // The page asks who is signed in before showing the login form: 401 is the answer.
  const problems = watchPage(page, [{ status: 401, path: '/api/v1/session' }]);
  await page.goto(`${m.url}/`);
  return { context, page, problems };
}

/** A fresh browser context, signed in through the login form, on the overview. */
async function signedIn(m: MasterProcess = master): Promise<Session> {
  const { context, page, problems } = await opened(m);
  await page.fill('#login-username', m.admin.username);
  await page.fill('#login-password', m.admin.password);
  await page.press('#login-password', 'Enter');
  await page.locator('#overview-updated', { hasText: /^Updated/ }).waitFor();
  return { context, page, problems };
}

async function finish(s: Session): Promise<void> {
  await s.context.close();
  expect(s.problems.unexpected()).toEqual([]);
}

const texts = (page: Page, selector: string) =>
  page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').trim()));

/** The bars of one chart as label → value. */
async function bars(page: Page, panel: string): Promise<Record<string, number>> {
  await page.waitForSelector(`${panel} .bar`);
  return page.$eval(panel, (el) =>
    Object.fromEntries(
      [...el.querySelectorAll('.bar-row')].map((g) => [
        g.querySelector('.bar-label')!.textContent!,
        Number(g.querySelector('.bar')!.getAttribute('data-value')),
      ]),
    ),
  );
}

/** Splits RFC 4180 CSV (the exports quote only when needed). */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

async function download(page: Page, selector: string): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const path = await file.path();
  return readFileSync(path, 'utf8');
}

test('login: a wrong password shows the API error, the right one lands on the overview, sign-out returns to login', async () => {
  const { context, page, problems } = await opened();
  await page.waitForSelector('#login-username');
  expect(await page.isVisible('#nav')).toBe(false);
  await page.screenshot({ path: join(SHOTS, 'login.png') });

  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'not-the-password');
  await page.click('form button[type=submit]');
  await page.locator('.form-error', { hasText: /\S/ }).waitFor();
  expect(await page.textContent('.form-error')).toBe('wrong username or password');
  expect(await page.isVisible('#nav')).toBe(false);

  await page.fill('#login-password', master.admin.password);
  await page.click('form button[type=submit]');
  await page.waitForSelector('#slave-table');
  expect(await page.textContent('h1')).toBe('Overview');
  expect(page.url()).toMatch(/#\/overview$/);
  expect(await page.getAttribute('#nav a[data-route=overview]', 'aria-current')).toBe('page');
  expect(await page.textContent('#account-name')).toBe('admin');

  // The session cookie survives a reload.
  await page.reload();
  await page.waitForSelector('#slave-table');

  await page.click('#logout');
  await page.waitForSelector('#login-username');
  expect(await page.isVisible('#nav')).toBe(false);
  await context.close();
  expect(problems.unexpected()).toEqual([]);
});

test('overview lists the running slaves with state, sync, version skew and clock skew', async () => {
  const s = await signedIn();
  const { page } = s;
  expect(await texts(page, '#slave-table tbody th')).toEqual(['edge-1', 'edge-2', 'edge-legacy']);
  const row = (name: string) => `#slave-table tr[data-slave="${name}"]`;
  for (const name of ['edge-1', 'edge-2', 'edge-legacy']) {
    expect(await page.textContent(`${row(name)} .badge-state`)).toBe('online');
    expect(await page.textContent(row(name))).toContain('in sync');
  }
  // The real slaves run this build on the master's clock (skew is measured, so not exactly 0).
  expect(await page.textContent(row('edge-1'))).not.toContain('version skew');
  expect(await page.textContent(`${row('edge-1')} td.num`)).toMatch(/^[+−±][\d.]+ m?s$/);
  expect(await page.getAttribute(`${row('edge-1')} td.num`, 'class')).not.toContain('text-warn');
  expect(await page.textContent(row('edge-legacy'))).toContain('version skew');
  expect(await page.textContent(`${row('edge-legacy')} td.num`)).toMatch(/^−3\.[5-9] s$/);
  expect(await page.getAttribute(`${row('edge-legacy')} td.num`, 'class')).toContain('text-warn');
  expect(await page.textContent('#card-online .card-value')).toBe('3 / 3');
  const { version } = JSON.parse(readFileSync(new URL('../../proxy/package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  expect(await page.textContent('#card-online .card-note')).toBe(`all reachable · 1 not on ${version}`);
  expect(await page.textContent('#card-sync .card-value')).toBe('3 / 3');
  expect(await page.textContent('#card-requests .card-value')).toBe(String(figures.requests));
  expect(await page.textContent('#card-blocked .card-value')).toBe(String(figures.blocked));
  await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });

  await page.click('#nav a[data-route=slaves]');
  await page.waitForSelector('#event-table');
  const events = await texts(page, '#event-table tbody tr');
  for (const name of ['edge-1', 'edge-2', 'edge-legacy']) {
    expect(events.filter((e) => e.includes(name) && e.includes('applied')).length).toBeGreaterThan(0);
  }
  await page.screenshot({ path: join(SHOTS, 'slaves.png'), fullPage: true });
  expect(legacy!.errors()).toEqual([]);
  await finish(s);
});

test('policy: an invalid rule shows the issue with its path and nothing is saved', async () => {
  const s = await signedIn();
  const { page, context } = s;
  s.problems.expect({ status: 422, path: '/api/v1/policy/validate' });
  s.problems.expect({ status: 422, path: '/api/v1/policy' });
  await page.click('#nav a[data-route=policy]');
  await page.waitForSelector('#versions-table');
  const before = (await (await context.request.get(`${master.url}/api/v1/policy`)).json()) as {
    hash: string;
    text: string;
  };
  expect(await page.inputValue('#policy-text')).toBe(before.text);
  const rowsBefore = await page.$$eval('#versions-table tbody tr', (r) => r.length);

  const broken = before.text.replace(/action: deny/, 'action: explode');
  expect(broken).not.toBe(before.text);
  await page.fill('#policy-text', broken);
  await page.click('#policy-validate');
  await page.waitForSelector('#policy-issues');
  const paths = await texts(page, '#policy-issues .issue-path');
  expect(paths.some((p) => /rules\[0\]\.action/.test(p))).toBe(true);
  expect(await page.textContent('#policy-issues')).toContain('explode');
  // The issue names its line, marked in the gutter and one click away.
  const line = broken.split('\n').findIndex((l) => l.includes('action: explode')) + 1;
  expect(await texts(page, '#policy-issues .issue-line')).toEqual([`line ${line}`]);
  expect(await texts(page, '.gutter-issue')).toEqual([String(line)]);
  await page.click('#policy-issues .issue-line');
  const caret = (await page.evaluate("document.getElementById('policy-text').selectionStart")) as number;
  expect(broken.slice(0, caret).split('\n')).toHaveLength(line);

  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === '/api/v1/policy'),
    page.click('#policy-save'),
  ]);
  await page.locator('#policy-issues', { hasText: 'nothing was saved' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'policy-invalid.png'), fullPage: true });
  expect(await page.$$eval('#versions-table tbody tr', (r) => r.length)).toBe(rowsBefore);
  const after = (await (await context.request.get(`${master.url}/api/v1/policy`)).json()) as { hash: string };
  expect(after.hash).toBe(before.hash);

  // The unsaved edits survive a visit elsewhere, clearly marked, and can be dropped.
  await page.click('#nav a[data-route=overview]');
  await page.waitForSelector('#slave-table');
  await page.click('#nav a[data-route=policy]');
  await page.waitForSelector('#draft-notice');
  expect(await page.inputValue('#policy-text')).toBe(broken);
  await page.click('#draft-discard');
  expect(await page.inputValue('#policy-text')).toBe(before.text);
  expect(await page.$$('#draft-notice')).toHaveLength(0);
  await finish(s);
});

test('policy: a valid save creates a version whose diff shows the change; rollback (confirmed) restores the old policy', async () => {
  const s = await signedIn();
  const { page, context } = s;
  await page.click('#nav a[data-route=policy]');
  await page.waitForSelector('#versions-table');
  const original = (await (await context.request.get(`${master.url}/api/v1/policy`)).json()) as {
    hash: string;
    text: string;
  };
  const firstVersion = Number(await page.getAttribute('#versions-table tbody tr:first-child', 'data-version'));

  const edited = original.text.replace(
    /^( *)rules:\n/m,
    (_m, indent: string) =>
      `${indent}rules:\n${indent}  - name: ui-test-block\n${indent}    action: deny\n${indent}    message: Blocked by the UI test\n${indent}    match:\n${indent}      domains: [ui-test.example]\n`,
  );
  expect(edited).not.toBe(original.text);
  await page.fill('#policy-text', edited);
  await page.click('#policy-validate');
  await page.waitForSelector('#policy-result .banner-ok');
  await page.fill('#policy-comment', 'block ui-test.example');
  await page.click('#policy-save');
  await page.locator('#policy-result', { hasText: `Saved as version ${firstVersion + 1}` }).waitFor();
  await page.waitForSelector(`#versions-table tr[data-version="${firstVersion + 1}"]`);
  expect(await page.textContent(`#versions-table tr[data-version="${firstVersion + 1}"]`)).toContain(
    'block ui-test.example',
  );
  const saved = (await (await context.request.get(`${master.url}/api/v1/policy`)).json()) as {
    hash: string;
    text: string;
  };
  expect(saved.text).toBe(edited);
  expect(saved.hash).not.toBe(original.hash);

  await page.click(`#versions-table tr[data-version="${firstVersion + 1}"] button[data-action=diff]`);
  await page.waitForSelector('#diff-text');
  const added = await texts(page, '#diff-text .diff-add');
  expect(added).toContain(
    '+  - name: ui-test-block'.replace(/^\+/, '+' + ' '.repeat(edited.match(/^( *)rules:/m)![1].length)),
  );
  expect(await texts(page, '#diff-text .diff-del')).toEqual([]);
  await page.screenshot({ path: join(SHOTS, 'policy-diff.png'), fullPage: true });

  // Every slave, the real ones included, enforces the new version within seconds: the overview says so.
  const short = saved.hash.replace(/^sha256:/, '').slice(0, 12);
  const deadline = Date.now() + 10_000;
  for (;;) {
    await page.click('#nav a[data-route=overview]');
    await page.locator('#overview-updated', { hasText: /^Updated/ }).waitFor();
    const sync = await page.textContent('#card-sync');
    if (sync?.includes('3 / 3') && sync.includes(short)) break;
    if (Date.now() > deadline) throw new Error(`slaves not in sync with ${short} after 10 s: ${sync}`);
    await page.click('#nav a[data-route=slaves]');
    await page.waitForTimeout(200);
  }
  await page.click('#nav a[data-route=policy]');
  await page.waitForSelector(`#versions-table tr[data-version="${firstVersion + 1}"]`);

  // Cancel first: nothing happens.
  const rollbackFirst = `#versions-table tr[data-version="${firstVersion}"] button[data-action=rollback]`;
  await page.click(rollbackFirst);
  await page.waitForSelector('dialog[open]');
  expect(await page.textContent('dialog[open] h2')).toBe(`Roll back to version ${firstVersion}?`);
  await page.click('dialog[open] button[value=cancel]');
  await page.waitForSelector('dialog', { state: 'detached' });
  expect(await page.$$eval('#versions-table tbody tr', (r) => r.length)).toBe(2);

  await page.click(rollbackFirst);
  await page.waitForSelector('dialog[open]');
  await page.click('dialog[open] button[value=confirm]');
  await page.locator('#policy-result', { hasText: `Rolled back: version ${firstVersion + 2}` }).waitFor();
  await page.waitForSelector(`#versions-table tr[data-version="${firstVersion + 2}"]`);
  expect(await page.inputValue('#policy-text')).toBe(original.text);
  const rolledBack = (await (await context.request.get(`${master.url}/api/v1/policy`)).json()) as { hash: string };
  expect(rolledBack.hash).toBe(original.hash);
  expect(await page.getAttribute(`#versions-table tr[data-version="${firstVersion + 2}"] td code`, 'title')).toBe(
    original.hash,
  );
  await finish(s);
});

async function openReports(s: Session): Promise<void> {
  await s.page.click('#nav a[data-route=reports]');
  await s.page.click('button[data-range="1h"]');
  await s.page.waitForSelector('#report-timeline .point');
  await s.page.waitForSelector('#report-top-sites .bar');
}

test('reports show the ingested records: totals, top sites, users, slaves, categories, blocked and the timeline', async () => {
  const s = await signedIn();
  const { page } = s;
  await openReports(s);
  expect(await page.textContent('#sum-requests .card-value')).toBe(String(figures.requests));
  expect(await page.textContent('#sum-blocked .card-value')).toBe(String(figures.blocked));
  expect(await bars(page, '#report-top-sites')).toEqual(Object.fromEntries(figures.sites));
  expect(await bars(page, '#report-top-users')).toEqual(Object.fromEntries(figures.users));
  expect(await bars(page, '#report-per-slave')).toEqual(Object.fromEntries(figures.slaves));
  expect(await bars(page, '#report-categories')).toEqual(Object.fromEntries(figures.categories));
  // Largest first, as the API orders them.
  expect(Object.keys(await bars(page, '#report-top-sites'))).toEqual(
    [...SITES].sort((a, b) => b.count - a.count).map((x) => x.host),
  );

  const blocked = await page.$$eval('#report-blocked tbody tr', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())),
  );
  expect(blocked.map((r) => [r[0], r[1], r[3]])).toEqual(
    SITES.filter((x) => x.action === 'deny').map((x) => [x.host, x.rule, String(x.count)]),
  );

  const points = await page.$$eval('#report-timeline .point', (els) =>
    els.map((e) => Number(e.getAttribute('data-requests'))),
  );
  expect(points).toHaveLength(figures.minuteBuckets);
  expect(points.reduce((a, b) => a + b, 0)).toBe(figures.requests);
  await page.screenshot({ path: join(SHOTS, 'reports.png'), fullPage: true });

  // A bar leads to its records: by click, and by keyboard.
  const social = SITES.find((x) => x.host === 'social.example')!;
  await page.click('#report-top-sites .bar-link:has(.bar-label:text-is("social.example"))');
  await page.locator('#search-page', { hasText: `Page 1 · ${social.count} records` }).waitFor();
  expect(await page.inputValue('#search-host')).toBe('social.example');
  expect(
    new Set(
      await page.$$eval('#search-table td.url', (tds) => tds.map((td) => new URL(td.getAttribute('title')!).host)),
    ),
  ).toEqual(new Set(['social.example']));
  await page.focus('#report-top-users .bar-link:has(.bar-label:text-is("bob"))');
  await page.keyboard.press('Enter');
  await page.locator('#search-page', { hasText: `Page 1 · ${figures.users.get('bob')} records` }).waitFor();
  expect(await page.inputValue('#search-host')).toBe('');
  expect(
    new Set(await page.$$eval('#search-table tbody tr td:nth-child(4)', (tds) => tds.map((td) => td.textContent))),
  ).toEqual(new Set(['bob']));
  await finish(s);
});

test('charts render: screenshots hold the series colours, and an empty range shows an empty state instead', async () => {
  const s = await signedIn();
  const { page } = s;
  await openReports(s);

  const timeline = await page
    .locator('#report-timeline figure')
    .screenshot({ path: join(SHOTS, 'chart-timeline.png') });
  const t = countPixels(timeline, REQUESTS_BLUE);
  // The requests line and its points: far more than stray anti-aliasing, yet not the whole image.
  expect(t.matching).toBeGreaterThan(400);
  expect(t.matching).toBeLessThan(t.total / 2);
  expect(countPixels(timeline, BLOCKED_RED).matching).toBeGreaterThan(150);

  const topSites = await page
    .locator('#report-top-sites figure')
    .screenshot({ path: join(SHOTS, 'chart-top-sites.png') });
  expect(await page.$$eval('#report-top-sites .bar', (b) => b.length)).toBe(SITES.length);
  const b = countPixels(topSites, REQUESTS_BLUE);
  // Five bars of 18 px height, the longest ~250 px wide at this viewport.
  expect(b.matching).toBeGreaterThan(SITES.length * 18 * 20);

  // A range a year back holds nothing: no chart, no blue, an honest message.
  await page.click('button[data-range="custom"]');
  const yearAgo = Date.now() - 365 * 86_400_000;
  const local = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await page.fill('#range-from', local(yearAgo));
  await page.fill('#range-to', local(yearAgo + 3_600_000));
  await page.click('.custom-range button[type=submit]');
  await page.waitForSelector('#report-timeline .empty');
  expect(await page.textContent('#report-timeline .empty')).toBe('No data in this range.');
  expect(await page.$$('#report-timeline svg')).toHaveLength(0);
  await page.waitForSelector('#report-top-sites .empty');
  const empty = await page.locator('#report-timeline').screenshot();
  expect(countPixels(empty, REQUESTS_BLUE).matching).toBeLessThan(50);
  await finish(s);
});

test('CSV export downloads files whose rows match the records', async () => {
  const s = await signedIn();
  const { page } = s;
  await openReports(s);

  const sites = parseCsv(await download(page, '#report-top-sites a.csv'));
  expect(Object.fromEntries(sites.map((r) => [r.host, Number(r.requests)]))).toEqual(Object.fromEntries(figures.sites));

  await page.fill('#search-user', 'alice');
  await page.click('#search button[type=submit]');
  await page.locator('#search-page', { hasText: /^Page 1 / }).waitFor();
  const alice = records.filter((r) => r.user === 'alice');
  const rows = parseCsv(await download(page, '#search-csv'));
  expect(rows).toHaveLength(alice.length);
  expect(new Set(rows.map((r) => r.user))).toEqual(new Set(['alice']));
  expect(rows.map((r) => r.url).sort()).toEqual(alice.map((r) => r.url).sort());
  writeFileSync(join(SHOTS, 'search-alice.csv'), rows.map((r) => r.url).join('\n'));
  await finish(s);
});

test('search pages through every record once, newest first, with the cursor', async () => {
  const s = await signedIn();
  const { page } = s;
  await openReports(s);
  await page.waitForSelector('#search-table');
  const seen: string[] = [];
  const times: number[] = [];
  for (let pageNo = 1; ; pageNo++) {
    await page.locator('#search-page', { hasText: new RegExp(`^Page ${pageNo} `) }).waitFor();
    seen.push(...(await page.$$eval('#search-table td.url', (tds) => tds.map((td) => td.getAttribute('title') ?? ''))));
    times.push(
      ...(await page.$$eval('#search-table tbody tr', (trs) => trs.map((tr) => Number(tr.getAttribute('data-time'))))),
    );
    if (await page.isDisabled('#search-next')) break;
    expect(pageNo).toBeLessThan(10);
    await page.click('#search-next');
  }
  expect(seen).toHaveLength(records.length);
  expect(new Set(seen).size).toBe(records.length);
  expect(times).toEqual([...times].sort((a, b) => b - a));
  await page.click('#search-prev');
  await page.locator('#search-page', { hasText: /^Page \d+ · 25 records$/ }).waitFor();

  await page.selectOption('#search-action', 'deny');
  await page.click('#search button[type=submit]');
  await page.locator('#search-page', { hasText: new RegExp(`^Page 1 · ${figures.blocked} records$`) }).waitFor();
  expect(new Set(await texts(page, '#search-table .badge'))).toEqual(new Set(['deny']));
  await finish(s);
});

test('an API error shows its own message in a banner', async () => {
  const s = await signedIn();
  const { page } = s;
  s.problems.expect({ status: 400, path: '/api/v1/reports/search' });
  await openReports(s);
  await page.fill('#search-user', 'x'.repeat(600));
  await page.click('#search button[type=submit]');
  await page.waitForSelector('#search-results .banner-error');
  expect(await page.textContent('#search-results .banner-error')).toBe('Error: user: longer than 512 characters');
  await finish(s);
});

/** Presses Tab until the focused element's text is `text`; fails after `max` presses. */
async function tabTo(page: Page, text: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate('document.activeElement && document.activeElement.textContent.trim()')) === text) return;
  }
  throw new Error(`no focusable element with text "${text}" within ${max} Tab presses`);
}

test('keyboard only: sign in, move between pages, pick a range, dismiss a dialog with Escape', async () => {
  const { context, page, problems } = await opened();
  await page.waitForSelector('#login-username:focus');
  await page.keyboard.type(master.admin.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(master.admin.password);
  await page.keyboard.press('Enter');
  await page.locator('#overview-updated', { hasText: /^Updated/ }).waitFor();

  await tabTo(page, 'Reports');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#report-top-sites');
  await tabTo(page, 'Last hour');
  await page.keyboard.press('Space');
  expect(await page.getAttribute('button[data-range="1h"]', 'aria-pressed')).toBe('true');
  await page.waitForSelector('#report-timeline .point');

  await page.click('#nav a[data-route=policy]');
  await page.waitForSelector('#versions-table');
  const versions = await page.$$eval('#versions-table tbody tr', (r) => r.length);
  await tabTo(page, 'Roll back');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open] button[value=cancel]:focus');
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog', { state: 'detached' });
  expect(await page.$$eval('#versions-table tbody tr', (r) => r.length)).toBe(versions);
  await context.close();
  expect(problems.unexpected()).toEqual([]);
});

/** GET `url` through the forward proxy on 127.0.0.1:`port`; resolves with the status. */
function viaProxy(port: number, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: url, headers: { Host: new URL(url).host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('requests through a real slave reach the reports: search finds them with slave, rule and action', async () => {
  // The default policy blocks blocked.example before any DNS lookup: deterministic, loopback only.
  const edge2 = slaves[1];
  const urls = [0, 1, 2].map((i) => `http://blocked.example/ui-test/${i}`);
  for (const url of urls) expect(await viaProxy(edge2.port, url)).toBe(403);

  const s = await signedIn();
  const { page } = s;
  await openReports(s);
  await page.fill('#search-host', 'blocked.example');
  // The slave ships within about a second; search again until the records are in.
  const deadline = Date.now() + 10_000;
  for (;;) {
    await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/reports/search'),
      page.click('#search button[type=submit]'),
    ]);
    await page.locator('#search-page', { hasText: /^Page 1 / }).waitFor();
    if ((await page.$$('#search-table tbody tr')).length >= urls.length) break;
    if (Date.now() > deadline)
      throw new Error('the records of requests through edge-2 did not reach the reports within 10 s');
    await page.waitForTimeout(300);
  }
  const rows = await page.$$eval('#search-table tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())),
  );
  // time, slave, client, user, method, url, status, action, rule, category, bytes
  expect(rows.map((r) => r[5]).sort()).toEqual(urls);
  for (const r of rows)
    expect([r[1], r[2], r[4], r[6], r[7], r[8], r[9]]).toEqual([
      'edge-2',
      '127.0.0.1',
      'GET',
      '403',
      'deny',
      'block-demo',
      'demo-blocked',
    ]);
  await finish(s);
});

describe('a slave that is gone, remembered across a master restart', () => {
  let restarted: MasterProcess;
  let dataDir: string;

  beforeAll(async () => {
    // The registry an earlier run of this master left behind: one slave last seen an hour ago.
    dataDir = mkdtempSync(join(tmpdir(), 'safesquid-ui-registry-'));
    const hourAgo = Date.now() - 3600_000;
    const gone = {
      name: 'edge-gone',
      address: '127.0.0.9',
      version: '1.0.0',
      policyHash: null,
      lastSyncAt: hourAgo,
      lastReportAt: null,
      lastSeenAt: hourAgo,
      clockSkewMs: 12,
      events: [{ time: hourAgo, kind: 'unreachable', detail: 'connect ECONNREFUSED 127.0.0.1:8888' }],
    };
    writeFileSync(join(dataDir, 'slaves.json'), JSON.stringify({ format: 1, slaves: [gone] }));
    restarted = await startMasterProcess(['--data-dir', dataDir]);
  }, 30_000);

  afterAll(async () => {
    await restarted?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('is listed offline with its events, and Forget (confirmed) removes it from the registry', async () => {
    const s = await signedIn(restarted);
    const { page, context } = s;
    await page.click('#nav a[data-route=slaves]');
    const row = page.locator('#slave-table tr[data-slave="edge-gone"]');
    await row.waitFor();
    expect(await row.locator('.badge-state').textContent()).toBe('offline');
    expect(await page.textContent('#event-table')).toContain('connect ECONNREFUSED 127.0.0.1:8888');

    await row.locator('button[data-action=forget]').click();
    await page.waitForSelector('dialog[open]');
    expect(await page.textContent('dialog[open] h2')).toBe('Forget slave edge-gone?');
    await page.click('dialog[open] button[value=confirm]');
    await page.locator('#slaves-notice', { hasText: 'Forgot slave edge-gone.' }).waitFor();
    await row.waitFor({ state: 'detached' });
    expect((await context.request.get(`${restarted.url}/api/v1/slaves/edge-gone`)).status()).toBe(404);
    await finish(s);
  });
});

describe('Kubernetes mode: policy from a mounted file', () => {
  let k8s: MasterProcess;
  let dir: string;
  let policyFile: string;
  let original: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'safesquid-ui-k8s-'));
    policyFile = join(dir, 'policy.yaml');
    original = readFileSync(new URL('../../proxy/policies/default.yaml', import.meta.url), 'utf8');
    writeFileSync(policyFile, original);
    k8s = await startMasterProcess(['--policy', policyFile]);
  }, 30_000);

  afterAll(async () => {
    await k8s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the policy is read-only with a banner naming its source, history and diffs still shown, and a file change shows up', async () => {
    const s = await signedIn(k8s);
    const { page, context } = s;
    expect(await page.textContent('.facts')).toContain('Kubernetes (policy from the operator)');
    await page.click('#nav a[data-route=policy]');
    await page.waitForSelector('#versions-table');
    expect(await page.textContent('#policy-readonly')).toBe(
      `Read-only. The policy is managed outside the portal, in the file ${policyFile}.`,
    );
    expect(await page.getAttribute('#policy-text', 'readonly')).toBe('');
    expect(await page.inputValue('#policy-text')).toBe(original);
    expect(await page.$$('#policy-save, #policy-validate, [data-action=rollback]')).toHaveLength(0);
    await page.screenshot({ path: join(SHOTS, 'policy-readonly.png'), fullPage: true });

    // The operator rewrites the mounted file: the master serves it and records it in the history.
    const changed = original.replace(
      /^( *)rules:\n/m,
      (_m, i: string) =>
        `${i}rules:\n${i}  - name: from-operator\n${i}    action: deny\n${i}    match:\n${i}      domains: [operator.example]\n`,
    );
    expect(changed).not.toBe(original);
    writeFileSync(policyFile, changed);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const p = (await (await context.request.get(`${k8s.url}/api/v1/policy`)).json()) as { text: string };
      if (p.text === changed) break;
      if (Date.now() > deadline) throw new Error('the master did not pick up the changed policy file within 10 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.click('#nav a[data-route=overview]');
    await page.click('#nav a[data-route=policy]');
    await page.waitForSelector('#versions-table tbody tr:nth-child(2)');
    expect(await page.inputValue('#policy-text')).toBe(changed);
    await page.click('#versions-table tbody tr:first-child button[data-action=diff]');
    await page.waitForSelector('#diff-text');
    expect(await texts(page, '#diff-text .diff-add')).toContain(
      `+${' '.repeat(changed.match(/^( *)rules:/m)![1].length)}  - name: from-operator`,
    );
    await finish(s);
  });
});
