/** The slave registry as a table, shared by the overview and the slaves page. */
import { emptyState, h } from './dom.js';
import { fmtAgo, fmtSkew, fmtTime, shortHash } from './format.js';

/** Clock skew beyond this breaks time-profile rules and report timelines: flag it. */
const SKEW_WARN_MS = 2000;

/**
 * @typedef {{ time: string | number, kind: 'applied' | 'refused' | 'unreachable' | 'recovered', detail?: string }} SyncEvent
 * @typedef {{ name: string, address: string, version: string, policyHash: string | null, inSync: boolean,
 *   lastSyncAt: string | number | null, lastReportAt: string | number | null, clockSkewMs: number | null,
 *   state: 'online' | 'stale' | 'offline', events?: SyncEvent[] }} SlaveEntry
 */

/** @param {string} state */
export function stateBadge(state) {
  const tone = state === 'online' ? 'ok' : state === 'stale' ? 'warn' : 'bad';
  return h('span', { class: `badge badge-state badge-${tone}` }, state);
}

/**
 * @param {SlaveEntry[]} slaves
 * @param {{ masterVersion?: string, policyHash?: string, onForget?: (name: string) => void }} ref
 *   `onForget`: offer to forget slaves that are not online (the slaves page).
 */
export function slaveTable(slaves, ref) {
  if (!slaves.length) {
    return emptyState(
      'No slave has contacted this master yet. Slaves register on their first policy fetch (safesquid slave --master URL).',
    );
  }
  const now = Date.now();
  const rows = slaves.map((sl) => {
    const skewed = ref.masterVersion && sl.version && sl.version !== ref.masterVersion;
    const badSkew = typeof sl.clockSkewMs === 'number' && Math.abs(sl.clockSkewMs) > SKEW_WARN_MS;
    return h(
      'tr',
      { 'data-slave': sl.name },
      h(
        'th',
        { scope: 'row' },
        h('a', { href: `#/slave?name=${encodeURIComponent(sl.name)}`, class: 'slave-link' }, sl.name),
      ),
      h('td', null, stateBadge(sl.state)),
      h('td', { class: 'mono' }, sl.address || '—'),
      h(
        'td',
        null,
        sl.version || '—',
        skewed
          ? h('span', { class: 'badge badge-warn', title: `master runs ${ref.masterVersion}` }, 'version skew')
          : null,
      ),
      h(
        'td',
        null,
        h('code', { title: sl.policyHash ?? '' }, shortHash(sl.policyHash)),
        ' ',
        sl.inSync
          ? h('span', { class: 'badge badge-ok' }, 'in sync')
          : h('span', { class: 'badge badge-warn' }, 'behind'),
      ),
      h('td', { title: fmtTime(sl.lastSyncAt) }, fmtAgo(sl.lastSyncAt, now)),
      h('td', { title: fmtTime(sl.lastReportAt) }, fmtAgo(sl.lastReportAt, now)),
      h('td', { class: badSkew ? 'num text-warn' : 'num' }, fmtSkew(sl.clockSkewMs)),
      ref.onForget
        ? h(
            'td',
            null,
            sl.state === 'online'
              ? null
              : h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-small',
                    'data-action': 'forget',
                    onclick: () => ref.onForget?.(sl.name),
                  },
                  'Forget',
                ),
          )
        : null,
    );
  });
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'slave-table' },
      h('caption', { class: 'sr-only' }, 'Slaves registered with this master'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Name', 'State', 'Address', 'Version', 'Policy', 'Last sync', 'Last report'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
          h('th', { scope: 'col', class: 'num' }, 'Clock skew'),
          ref.onForget ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null,
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}
