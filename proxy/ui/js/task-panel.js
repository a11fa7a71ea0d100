/**
 * Tasks for slaves (on the slaves page): a form that queues one (re-sync policy, reload users,
 * drain and restart, collect diagnostics) for one slave or all, and the recent tasks with each
 * slave's outcome; diagnostics open in place. Refreshes itself while a task is open.
 */
import { api } from './api.js';
import { confirmDialog } from './confirm-dialog.js';
import { emptyState, errorBanner, h, replace } from './dom.js';
import { fmtTime } from './format.js';

const KINDS = [
  ['resync', 'Re-sync policy now'],
  ['reload-users', 'Reload proxy users'],
  ['restart', 'Drain and restart'],
  ['diagnostics', 'Collect diagnostics'],
];
const STATE_TONE = { succeeded: 'ok', failed: 'bad', expired: 'warn', pending: 'neutral', delivered: 'neutral' };
const OPEN_REFRESH_MS = 2_000;
const IDLE_REFRESH_MS = 15_000;

/**
 * @typedef {{ name: string, state: string, updatedAt: string, detail?: string, data?: Record<string, unknown> }} TaskOutcome
 * @typedef {{ id: string, kind: string, target: string, createdAt: string, expiresAt: string, createdBy: string, state: 'open' | 'done', slaves: TaskOutcome[] }} TaskView
 */

/** @param {import('./app.js').ViewContext} ctx @returns {HTMLElement} */
export function taskPanel(ctx) {
  const notice = h('div', { id: 'task-notice' });
  const list = h('div', { id: 'task-list' });
  const kind = h(
    'select',
    { id: 'task-kind', name: 'kind' },
    KINDS.map(([v, label]) => h('option', { value: v }, label)),
  );
  const slave = h('select', { id: 'task-slave', name: 'slave' }, h('option', { value: '*' }, 'All slaves'));
  const expiry = h('input', { id: 'task-expiry', name: 'expiry', type: 'number', min: '1', value: '15' });
  const form = h(
    'form',
    { class: 'search-form', id: 'task-form', onsubmit: (/** @type {Event} */ e) => void submit(e) },
    h('label', { class: 'field' }, 'Task', kind),
    h('label', { class: 'field' }, 'Slave', slave),
    h('label', { class: 'field' }, 'Expires after (minutes)', expiry),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send task')),
  );
  const panel = h('section', { class: 'panel', id: 'task-panel' }, h('h2', null, 'Tasks'), form, notice, list);
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  ctx.onLeave(() => clearTimeout(timer));

  /** @param {Event} e */
  async function submit(e) {
    e.preventDefault();
    const k = /** @type {HTMLSelectElement} */ (kind).value;
    const target = /** @type {HTMLSelectElement} */ (slave).value;
    const who = target === '*' ? 'every slave' : `slave ${target}`;
    if (k === 'restart') {
      const ok = await confirmDialog(
        `Drain and restart ${who}?`,
        'Each slave stops taking connections, lets open ones finish, and exits for its supervisor to start it again.',
        'Restart',
      );
      if (!ok) return;
    }
    try {
      const minutes = Number(/** @type {HTMLInputElement} */ (expiry).value);
      /** @type {TaskView} */
      const task = await api('/tasks', {
        method: 'POST',
        json: { kind: k, slave: target, expiresInSeconds: Math.round(minutes * 60) },
      });
      if (!ctx.live()) return;
      replace(notice, h('div', { class: 'banner banner-ok', role: 'status' }, `Task ${task.id} queued for ${who}.`));
    } catch (err) {
      if (ctx.live()) replace(notice, errorBanner(err));
    }
    await refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [tasks, slaves] = await Promise.all([api('/tasks'), api('/slaves')]);
      if (!ctx.live()) return;
      updateSlaveChoices(/** @type {{ name: string }[]} */ (slaves).map((s) => s.name));
      replace(list, table(/** @type {TaskView[]} */ (tasks)));
      const open = /** @type {TaskView[]} */ (tasks).some((t) => t.state === 'open');
      timer = setTimeout(() => void refresh(), open ? OPEN_REFRESH_MS : IDLE_REFRESH_MS);
    } catch (err) {
      if (ctx.live()) replace(list, errorBanner(err));
    }
  }

  /** @param {string[]} names */
  function updateSlaveChoices(names) {
    const select = /** @type {HTMLSelectElement} */ (slave);
    const chosen = select.value;
    const have = [...select.options].map((o) => o.value).slice(1);
    if (have.join('\n') === names.join('\n')) return;
    replace(
      select,
      h('option', { value: '*' }, 'All slaves'),
      names.map((n) => h('option', { value: n }, n)),
    );
    select.value = names.includes(chosen) ? chosen : '*';
  }

  void refresh();
  return panel;
}

/** One row per slave of each task, newest task first. @param {TaskView[]} tasks */
function table(tasks) {
  if (!tasks.length) return emptyState('No tasks yet. Tasks reach slaves with their next poll of this master.');
  const label = Object.fromEntries(KINDS);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'task-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Task', 'Kind', 'Slave', 'Outcome', 'Detail', 'Updated', 'Expires'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        null,
        tasks
          .slice(0, 50)
          .flatMap((t) =>
            t.slaves.map((o) =>
              h(
                'tr',
                { 'data-task': t.id, 'data-slave': o.name },
                h('td', { class: 'nowrap', title: `by ${t.createdBy} at ${fmtTime(t.createdAt)}` }, t.id),
                h('td', null, label[t.kind] ?? t.kind),
                h('td', null, o.name),
                h(
                  'td',
                  null,
                  h('span', { class: `badge badge-state badge-${STATE_TONE[o.state] ?? 'neutral'}` }, o.state),
                ),
                h('td', null, o.detail ?? '', o.data ? diagnostics(o.data) : null),
                h('td', { class: 'nowrap' }, fmtTime(o.updatedAt)),
                h('td', { class: 'nowrap' }, fmtTime(t.expiresAt)),
              ),
            ),
          ),
      ),
    ),
  );
}

/** The collected diagnostics, folded. @param {Record<string, unknown>} data */
function diagnostics(data) {
  return h(
    'details',
    { class: 'diagnostics' },
    h('summary', null, 'Diagnostics'),
    h('pre', { class: 'code' }, JSON.stringify(data, null, 2)),
  );
}
