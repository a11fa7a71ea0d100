/**
 * Headless Debian Chromium driven by playwright-core, and a watcher that turns every console
 * error, page error, failed request or unexpected HTTP error status into a test failure.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** `chromium.launch` runs on a fresh temporary profile that Playwright deletes on close. */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 20_000 });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

/** An HTTP error the test provokes on purpose (e.g. 401 for a wrong password). */
export interface ExpectedError {
  status: number;
  /** Matched against the URL's path. */
  path: string | RegExp;
}

export interface PageProblems {
  /** Everything that went wrong and was not expected, one line each. */
  unexpected(): string[];
  expect(e: ExpectedError): void;
}

/**
 * Records what goes wrong in a page. Chromium also logs every HTTP error response as a console
 * error ("Failed to load resource"); those lines count only when their response was unexpected.
 */
export function watchPage(page: Page, expected: ExpectedError[] = []): PageProblems {
  const allowed = [...expected];
  const problems: string[] = [];
  const isExpected = (status: number, url: string) => {
    const path = new URL(url).pathname;
    return allowed.some(
      (e) => e.status === status && (typeof e.path === 'string' ? e.path === path : e.path.test(path)),
    );
  };
  const errorStatuses: { status: number; url: string }[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(msg.text());
    if (m) {
      const url = msg.location().url;
      if (isExpected(Number(m[1]), url)) return;
      problems.push(`console error: ${msg.text()} (${url})`);
      return;
    }
    problems.push(`console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) =>
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText ?? 'unknown'}`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) errorStatuses.push({ status: res.status(), url: res.url() });
  });
  return {
    expect(e) {
      allowed.push(e);
    },
    unexpected() {
      const http = errorStatuses.filter((r) => !isExpected(r.status, r.url)).map((r) => `HTTP ${r.status}: ${r.url}`);
      return [...problems, ...http];
    },
  };
}
