/**
 * The portal's single page: a hash router (`#/overview`, `#/policy`, `#/reports`, `#/slaves`)
 * in front of one module per view. Nothing is shown but the login form until the session
 * endpoint says who is signed in.
 */
import { api, ApiError, UNAUTHORIZED_EVENT } from './api.js';
import { errorBanner, replace } from './dom.js';
import * as login from './views/login.js';
import * as overview from './views/overview.js';
import * as policy from './views/policy.js';
import * as reports from './views/reports.js';
import * as slave from './views/slave.js';
import * as slaves from './views/slaves.js';

/** @typedef {{ username: string }} Session */
/**
 * What a view gets: `live()` turns false once the user has moved on, so late answers are
 * dropped instead of drawn over the next page; `onLeave` registers timers to stop.
 * @typedef {{ session: Session, live: () => boolean, onLeave: (fn: () => void) => void, params: URLSearchParams }} ViewContext
 */

/** @type {Record<string, { title: string, render: (main: HTMLElement, ctx: ViewContext) => Promise<void> | void }>} */
const views = { overview, policy, reports, slaves, slave };

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const account = /** @type {HTMLElement} */ (document.getElementById('account'));

/** @type {Session | null} */
let session = null;
/** @type {(() => void)[]} */
let leaving = [];
let generation = 0;

function leave() {
  generation++;
  for (const fn of leaving) fn();
  leaving = [];
}

function showLogin() {
  leave();
  nav.hidden = true;
  account.hidden = true;
  document.title = 'Sign in · SafeSquid';
  login.render(main, {
    onSignedIn(/** @type {Session} */ s) {
      session = s;
      if (!location.hash || location.hash === '#/login') location.hash = '#/overview';
      route();
    },
  });
}

function route() {
  if (!session) return showLogin();
  const [path, search] = location.hash.replace(/^#\/?/, '').split('?');
  const name = path || 'overview';
  const view = views[name];
  if (!view) {
    location.replace('#/overview');
    return;
  }
  leave();
  const mine = generation;
  nav.hidden = false;
  account.hidden = false;
  /** @type {HTMLElement} */ (document.getElementById('account-name')).textContent = session.username;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${view.title} · SafeSquid`;
  const ctx = {
    session,
    live: () => generation === mine,
    onLeave: (/** @type {() => void} */ fn) => leaving.push(fn),
    params: new URLSearchParams(search ?? ''),
  };
  Promise.resolve(view.render(main, ctx)).catch((err) => {
    if (ctx.live() && !(err instanceof ApiError && err.status === 401)) replace(main, errorBanner(err));
  });
}

async function signOut() {
  try {
    await api('/session', { method: 'DELETE' });
  } finally {
    session = null;
    showLogin();
  }
}

async function start() {
  try {
    session = await api('/session');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      replace(main, errorBanner(err));
      return;
    }
  }
  window.addEventListener('hashchange', () => {
    route();
    main.focus({ preventScroll: true });
  });
  window.addEventListener(UNAUTHORIZED_EVENT, () => {
    session = null;
    showLogin();
  });
  /** @type {HTMLElement} */ (document.getElementById('logout')).addEventListener('click', () => void signOut());
  route();
}

void start();
