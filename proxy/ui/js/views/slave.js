/**
 * One slave (`#/slave?name=edge-1`): its live statistics as it posts them (every 5 s, no
 * Prometheus needed), their rates over the last minutes, and one event log that puts its sync
 * events (from the registry) next to its warning and error lines.
 */
import { api, ApiError } from '../api.js';
import { timelineChart } from '../charts.js';
import { emptyState, errorBanner, h, loading, replace } from '../dom.js';
import { fmtAgo, fmtBytes, fmtInt, fmtTime, shortHash } from '../format.js';
import { stateBadge } from '../slave-table.js';

export const title = 'Slave';
const REFRESH_MS = 5000;
const TONE = {
  applied: 'ok',
  recovered: 'ok',
  refused: 'bad',
  unreachable: 'warn',
  warn: 'warn',
  error: 'bad',
  fatal: 'bad',
};

/** @param {HTMLElement} main @param {import('../app.js').ViewContext} ctx */
export async function render(main, ctx) {
  const name = ctx.params.get('name') ?? '';
  const body = h('div', null, loading());
  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('p', null, h('a', { href: '#/slaves', class: 'link' }, '← Slaves')),
      h('h1', null, 'Slave ', h('span', { id: 'slave-title' }, name)),
      h(
        'p',
        { class: 'muted' },
        'Live statistics the slave posts every 5 seconds, and its sync events beside its warnings and errors.',
      ),
    ),
    body,
  );
  const refresh = async () => {
    const [entry, stats] = await Promise.allSettled([
      api(`/slaves/${encodeURIComponent(name)}`),
      api(`/slaves/${encodeURIComponent(name)}/stats`),
    ]);
    if (!ctx.live()) return;
    if (entry.status === 'rejected' && stats.status === 'rejected') {
      replace(body, errorBanner(entry.reason));
      return;
    }
    const noStats = stats.status === 'rejected' && stats.reason instanceof ApiError && stats.reason.status === 404;
    replace(
      body,
      entry.status === 'fulfilled' ? facts(entry.value) : null,
      stats.status === 'fulfilled'
        ? statistics(stats.value)
        : noStats
          ? h('section', { class: 'panel' }, emptyState('This slave has posted no statistics to this master yet.'))
          : errorBanner(stats.reason),
      eventLog(
        entry.status === 'fulfilled' ? (entry.value.events ?? []) : [],
        stats.status === 'fulfilled' ? stats.value.logs : [],
      ),
    );
  };
  await refresh();
  const timer = setInterval(() => void refresh().catch(() => {}), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** @param {import('../slave-table.js').SlaveEntry} e */
function facts(e) {
  return h(
    'section',
    { class: 'panel', id: 'slave-facts' },
    h(
      'dl',
      { class: 'facts' },
      fact('State', stateBadge(e.state)),
      fact('Address', e.address || '—'),
      fact('Version', e.version || '—'),
      fact('Policy', h('span', { class: 'mono', title: e.policyHash ?? '' }, shortHash(e.policyHash))),
      fact('Last sync', h('span', { title: fmtTime(e.lastSyncAt) }, fmtAgo(e.lastSyncAt))),
    ),
  );
}

/** @param {string} term @param {Node | string} value */
function fact(term, value) {
  return h('div', null, h('dt', null, term), h('dd', null, value));
}

/**
 * Per-second rates between the last two samples (0 across a restart, when counters start over).
 * @param {Record<string, number>[]} history @param {string} key
 */
function rate(history, key) {
  if (history.length < 2) return undefined;
  const [a, b] = history.slice(-2);
  const secs = (b.time - a.time) / 1000;
  return secs > 0 ? Math.max(0, (b[key] - a[key]) / secs) : undefined;
}

/** @param {number | undefined} r */
const perSec = (r) => (r === undefined ? '—' : `${r < 10 ? r.toFixed(1) : fmtInt(Math.round(r))}/s`);

/** @param {any} st GET /slaves/:name/stats */
function statistics(st) {
  const c = st.counters;
  const g = st.gauges;
  const hist = st.history;
  const points = [];
  for (let i = 1; i < hist.length; i++) {
    const a = hist[i - 1];
    const b = hist[i];
    points.push({
      t: b.time,
      requests: Math.max(0, b.requests + b.tunnels - a.requests - a.tunnels),
      blocked: Math.max(0, b.denies - a.denies),
    });
  }
  const from = hist.length ? hist[0].time : Date.now();
  const to = hist.length ? hist[hist.length - 1].time + 1 : Date.now();
  return h(
    'div',
    null,
    h(
      'section',
      { class: 'cards', 'aria-label': 'Live statistics', id: 'slave-cards' },
      card(
        'Requests',
        fmtInt(c.requests),
        `${perSec(rate(hist, 'requests'))} · ${fmtInt(c.tunnels)} tunnels`,
        'neutral',
        'card-requests',
      ),
      card('Denied', fmtInt(c.denies), perSec(rate(hist, 'denies')), c.denies ? 'bad' : 'neutral', 'card-denies'),
      card(
        'Errors',
        fmtInt(c.errors),
        `refused before policy · ${perSec(rate(hist, 'errors'))}`,
        c.errors ? 'warn' : 'ok',
        'card-errors',
      ),
      card(
        'Open now',
        `${fmtInt(g.activeConnections)} / ${fmtInt(g.activeTunnels)}`,
        'connections / tunnels',
        'neutral',
        'card-active',
      ),
      card(
        'Traffic',
        fmtBytes(c.bytesUp + c.bytesDown),
        `↑ ${fmtBytes(c.bytesUp)} · ↓ ${fmtBytes(c.bytesDown)}`,
        'neutral',
        'card-bytes',
      ),
      card(
        'CPU',
        `${g.cpuPercent.toFixed(1)} %`,
        `of one core · memory ${fmtBytes(g.rssBytes)}`,
        g.cpuPercent > 80 ? 'warn' : 'ok',
        'card-cpu',
      ),
      card(
        'Report spool',
        fmtInt(g.spoolBatches),
        `batches, ${fmtBytes(g.spoolBytes)} · ${fmtInt(g.queueRecords)} records queued`,
        g.spoolBatches > 0 ? 'warn' : 'ok',
        'card-spool',
      ),
    ),
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', null, 'Requests per 5 s'),
        h('span', { class: 'muted', id: 'slave-updated' }, `Updated ${fmtAgo(st.updatedAt)}`),
      ),
      points.length
        ? timelineChart({ points, from, to, bucketMs: REFRESH_MS, label: 'Requests and denies per 5 seconds' })
        : emptyState('Rates appear after the second post.'),
      h(
        'p',
        { class: 'muted' },
        `Reports sent ${fmtInt(c.recordsSent)}, lost ${fmtInt(c.recordsDropped)} · log lines held back ${fmtInt(c.logLinesDropped)} · processes: ${st.processes.map((p) => p.process).join(', ')}`,
      ),
    ),
  );
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

/**
 * Sync events and log lines in one table, newest first.
 * @param {{ time: string, kind: string, detail: string }[]} sync
 * @param {{ time: string, level: string, msg: string, detail?: string, suppressedBefore?: number }[]} logs
 */
function eventLog(sync, logs) {
  const rows = [
    ...sync.map((e) => ({ time: e.time, source: 'sync', kind: e.kind, text: e.detail, detail: '' })),
    ...logs.map((l) => ({
      time: l.time,
      source: 'log',
      kind: l.level,
      text: l.suppressedBefore ? `${l.msg} (${l.suppressedBefore} earlier lines held back)` : l.msg,
      detail: l.detail ?? '',
    })),
  ].sort((a, b) => new Date(b.time).getTime() - new Date(a.time).getTime());
  return h(
    'section',
    { class: 'panel' },
    h('h2', null, 'Events'),
    rows.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table', id: 'slave-event-table' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Time', 'Source', 'Event', 'Detail'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              null,
              rows.map((r) =>
                h(
                  'tr',
                  { 'data-source': r.source, 'data-kind': r.kind },
                  h('td', { class: 'nowrap' }, fmtTime(r.time)),
                  h('td', null, r.source),
                  h('td', null, h('span', { class: `badge badge-${TONE[r.kind] ?? 'neutral'}` }, r.kind)),
                  h('td', null, r.text, r.detail ? h('div', { class: 'mono muted' }, r.detail) : null),
                ),
              ),
            ),
          ),
        )
      : emptyState('No sync events or warnings from this slave yet.'),
  );
}
