/** Cluster at a glance: slaves online, policy in sync, last hour's traffic, the registry. */
import { api, query } from '../api.js';
import { errorBanner, h, loading, replace } from '../dom.js';
import { fmtInt, fmtTime, shortHash } from '../format.js';
import { slaveTable } from '../slave-table.js';

export const title = 'Overview';
const REFRESH_MS = 15_000;

/** @param {HTMLElement} main @param {import('../app.js').ViewContext} ctx */
export async function render(main, ctx) {
  const body = h('div', { 'aria-live': 'polite' }, loading());
  replace(
    main,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('p', { class: 'muted', id: 'overview-updated' })),
    body,
  );
  const refresh = async () => {
    const to = Date.now();
    const [cluster, summary] = await Promise.allSettled([
      api('/cluster'),
      api(`/reports/summary?${query({ from: to - 3_600_000, to })}`),
    ]);
    if (!ctx.live()) return;
    if (cluster.status === 'rejected') {
      replace(body, errorBanner(cluster.reason));
      return;
    }
    replace(body, ...content(cluster.value, summary));
    const updated = main.querySelector('#overview-updated');
    if (updated)
      updated.textContent = `Updated ${new Date().toLocaleTimeString('en-GB')} · refreshes every ${REFRESH_MS / 1000} s`;
  };
  await refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/**
 * @param {any} cluster GET /cluster
 * @param {PromiseSettledResult<any>} summary GET /reports/summary for the last hour
 */
function content(cluster, summary) {
  /** @type {import('../slave-table.js').SlaveEntry[]} */
  const slaves = cluster.slaves ?? [];
  const online = slaves.filter((s) => s.state === 'online').length;
  const inSync = slaves.filter((s) => s.inSync).length;
  const sum = summary.status === 'fulfilled' ? summary.value : null;
  const policy = cluster.policy ?? {};
  const masterVersion = cluster.master?.version;
  const skewed = slaves.filter((s) => masterVersion && s.version && s.version !== masterVersion).length;
  const reach = online === slaves.length ? 'all reachable' : `${slaves.length - online} not online`;
  return [
    h(
      'section',
      { class: 'cards', 'aria-label': 'Cluster summary' },
      card(
        'Slaves online',
        `${online} / ${slaves.length}`,
        skewed ? `${reach} · ${skewed} not on ${masterVersion}` : reach,
        online < slaves.length || skewed ? 'warn' : 'ok',
        'card-online',
      ),
      card(
        'Policy in sync',
        `${inSync} / ${slaves.length}`,
        `enforcing ${shortHash(policy.hash)}`,
        inSync < slaves.length ? 'warn' : 'ok',
        'card-sync',
      ),
      card(
        'Requests, last hour',
        sum ? fmtInt(sum.requests) : '—',
        sum ? `${fmtInt(sum.distinctUsers)} users · ${fmtInt(sum.distinctHosts)} sites` : 'reports unavailable',
        'neutral',
        'card-requests',
      ),
      card(
        'Blocked, last hour',
        sum ? fmtInt(sum.blocked) : '—',
        sum && sum.requests ? `${((100 * sum.blocked) / sum.requests).toFixed(1)} % of requests` : 'no requests',
        sum && sum.blocked ? 'bad' : 'neutral',
        'card-blocked',
      ),
    ),
    summary.status === 'rejected' ? errorBanner(summary.reason) : null,
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', null, 'Slaves'),
        h('a', { href: '#/slaves', class: 'link' }, 'Sync events →'),
      ),
      slaveTable(slaves, { masterVersion: cluster.master?.version, policyHash: policy.hash }),
    ),
    h(
      'section',
      { class: 'panel' },
      h('h2', null, 'Master'),
      h(
        'dl',
        { class: 'facts' },
        fact(
          'Mode',
          cluster.mode === 'kubernetes' ? 'Kubernetes (policy from the operator)' : 'Standalone (policy edited here)',
        ),
        fact(
          'Policy',
          h(
            'span',
            null,
            h('code', { title: policy.hash ?? '' }, shortHash(policy.hash)),
            ` from ${policy.source ?? 'unknown source'}, updated ${fmtTime(policy.updatedAt)}`,
          ),
        ),
        fact('Version', cluster.master?.version ?? '—'),
        fact('Started', fmtTime(cluster.master?.startedAt)),
      ),
    ),
  ];
}

/** @param {string} label @param {string} value @param {string} note @param {string} tone @param {string} id */
function card(label, value, note, tone, id) {
  return h(
    'div',
    { class: `card card-${tone}`, id },
    h('div', { class: 'card-label' }, label),
    h('div', { class: 'card-value' }, value),
    h('div', { class: 'card-note' }, note),
  );
}

/** @param {string} term @param {Node | string} value */
function fact(term, value) {
  return h('div', null, h('dt', null, term), h('dd', null, value));
}
