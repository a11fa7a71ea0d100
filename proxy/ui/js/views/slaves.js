/** The slave registry in full, with each slave's recent sync events. */
import { api } from '../api.js';
import { confirmDialog } from '../confirm-dialog.js';
import { emptyState, errorBanner, h, loading, replace } from '../dom.js';
import { fmtTime } from '../format.js';
import { slaveTable } from '../slave-table.js';
import { taskPanel } from '../task-panel.js';

export const title = 'Slaves';
const REFRESH_MS = 15_000;
const KIND_TONE = { applied: 'ok', recovered: 'ok', refused: 'bad', unreachable: 'warn' };

/** @param {HTMLElement} main @param {import('../app.js').ViewContext} ctx */
export async function render(main, ctx) {
  const body = h('div', null, loading());
  const notice = h('div', { id: 'slaves-notice' });
  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Slaves'),
      h(
        'p',
        { class: 'muted' },
        'Every proxy that fetched policy from this master, what it enforces and how its sync went.',
      ),
    ),
    notice,
    body,
    taskPanel(ctx),
  );
  /** @param {string} name */
  const forget = async (name) => {
    const ok = await confirmDialog(
      `Forget slave ${name}?`,
      'It leaves the registry with its sync events. A slave that contacts this master again is registered anew.',
      'Forget',
    );
    if (!ok) return;
    try {
      await api(`/slaves/${encodeURIComponent(name)}`, { method: 'DELETE' });
      if (!ctx.live()) return;
      replace(notice, h('div', { class: 'banner banner-ok', role: 'status' }, `Forgot slave ${name}.`));
    } catch (err) {
      if (ctx.live()) replace(notice, errorBanner(err));
    }
    await refresh();
  };
  const refresh = async () => {
    try {
      const cluster = await api('/cluster');
      if (!ctx.live()) return;
      replace(
        body,
        h(
          'section',
          { class: 'panel' },
          h('h2', null, 'Registry'),
          slaveTable(cluster.slaves ?? [], {
            masterVersion: cluster.master?.version,
            policyHash: cluster.policy?.hash,
            onForget: (name) => void forget(name),
          }),
        ),
        h('section', { class: 'panel' }, h('h2', null, 'Sync events'), events(cluster.slaves ?? [])),
      );
    } catch (err) {
      if (ctx.live()) replace(body, errorBanner(err));
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** All slaves' events in one log, newest first. @param {import('../slave-table.js').SlaveEntry[]} slaves */
function events(slaves) {
  const all = slaves.flatMap((s) => (s.events ?? []).map((e) => ({ ...e, slave: s.name })));
  all.sort((a, b) => new Date(b.time).getTime() - new Date(a.time).getTime());
  if (!all.length) return emptyState('No sync events recorded yet.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'event-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Time', 'Slave', 'Event', 'Detail'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        null,
        all
          .slice(0, 200)
          .map((e) =>
            h(
              'tr',
              null,
              h('td', { class: 'nowrap' }, fmtTime(e.time)),
              h('td', null, e.slave),
              h('td', null, h('span', { class: `badge badge-${KIND_TONE[e.kind] ?? 'neutral'}` }, e.kind)),
              h('td', null, e.detail ?? ''),
            ),
          ),
      ),
    ),
  );
}
