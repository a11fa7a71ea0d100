/**
 * The slaves page's task panel in a real headless Chromium against a real master and two real
 * slaves: queue a task for one slave and for all, and see each slave's outcome (and the collected
 * diagnostics) in the table. Any console error, failed request or unexpected HTTP error fails it.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, watchPage, type LaunchedBrowser, type PageProblems } from './browser.js';
import { startMasterProcess, startSlaveProcess, type MasterProcess, type SlaveProcess } from './cli-processes.js';

jest.setTimeout(60_000);

let master: MasterProcess;
let chrome: LaunchedBrowser;
const slaves: SlaveProcess[] = [];

beforeAll(async () => {
  master = await startMasterProcess();
  slaves.push(await startSlaveProcess(master, 'edge-1'), await startSlaveProcess(master, 'edge-2'));
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const s of slaves) await s.stop();
  await chrome?.close();
  await master?.stop();
});

async function signedIn(): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await chrome.browser.newContext({ viewport: { width: 1360, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = watchPage(page, [{ status: 401, path: '/api/v1/session' }]);
  await page.goto(`${master.url}/`);
  await page.fill('#login-username', master.admin.username);
  await page.fill('#login-password', master.admin.password);
  await page.press('#login-password', 'Enter');
  await page.locator('#overview-updated', { hasText: /^Updated/ }).waitFor();
  return { context, page, problems };
}

const outcome = (page: Page, task: string, slave: string) =>
  page.locator(`#task-table tr[data-task="${task}"][data-slave="${slave}"]`);

test('queues tasks for one slave and for all, and shows each outcome and the diagnostics', async () => {
  const { context, page, problems } = await signedIn();
  await page.click('#nav a[data-route=slaves]');
  await page.locator('#task-panel').waitFor();
  await page.locator('#task-slave option[value="edge-2"]').waitFor({ state: 'attached' });

  // Diagnostics from edge-2 only.
  await page.selectOption('#task-kind', 'diagnostics');
  await page.selectOption('#task-slave', 'edge-2');
  await page.click('#task-form button[type=submit]');
  const queued = await page.locator('#task-notice', { hasText: /^Task .* queued for slave edge-2\.$/ }).textContent();
  const diagId = /^Task (\S+) queued/.exec(queued!)![1];
  const row = outcome(page, diagId, 'edge-2');
  await row.locator('.badge', { hasText: 'succeeded' }).waitFor();
  expect(await outcome(page, diagId, 'edge-1').count()).toBe(0);
  await row.locator('details summary').click();
  const report = JSON.parse((await row.locator('details pre').textContent())!) as Record<string, unknown>;
  expect(report).toMatchObject({ name: 'edge-2', masterReachable: true });
  expect(typeof report.openConnections).toBe('number');

  // Reload users on all: neither slave has proxy authentication, so each says so.
  await page.selectOption('#task-kind', 'reload-users');
  await page.selectOption('#task-slave', '*');
  await page.click('#task-form button[type=submit]');
  const all = await page.locator('#task-notice', { hasText: /queued for every slave\.$/ }).textContent();
  const usersId = /^Task (\S+) queued/.exec(all!)![1];
  for (const name of ['edge-1', 'edge-2']) {
    const r = outcome(page, usersId, name);
    await r.locator('.badge', { hasText: 'failed' }).waitFor();
    expect(await r.textContent()).toContain('no proxy authentication configured');
  }

  // Drain and restart asks first; cancelling sends nothing.
  await page.selectOption('#task-kind', 'restart');
  await page.click('#task-form button[type=submit]');
  await page.waitForSelector('dialog[open]');
  expect(await page.textContent('dialog[open] h2')).toBe('Drain and restart every slave?');
  await page.click('dialog[open] button[value=cancel]');
  const tasks = (await (await context.request.get(`${master.url}/api/v1/tasks`)).json()) as { kind: string }[];
  expect(tasks.map((t) => t.kind)).toEqual(['reload-users', 'diagnostics']);

  await context.close();
  expect(problems.unexpected()).toEqual([]);
});
