/**
 * Unified reports over every slave's access records: a time range, the timeline, the top
 * lists, blocked requests, and a record search. Every panel links to the same query as CSV.
 */
import { api, csvUrl, query } from '../api.js';
import { barChart, COLORS, timelineChart } from '../charts.js';
import { emptyState, errorBanner, h, loading, replace } from '../dom.js';
import { fmtBytes, fmtInt, fmtTime } from '../format.js';

export const title = 'Reports';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RANGES = [
  { id: '1h', label: 'Last hour', ms: HOUR },
  { id: '24h', label: 'Last 24 h', ms: DAY },
  { id: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { id: 'custom', label: 'Custom', ms: 0 },
];
const TOP = 10;
const PAGE = 25;

/** Kept across visits, so coming back to Reports shows the range last looked at. */
const state = { range: '24h', customFrom: 0, customTo: 0 };

function currentWindow() {
  if (state.range === 'custom' && state.customTo > state.customFrom)
    return { from: state.customFrom, to: state.customTo };
  const ms = RANGES.find((r) => r.id === state.range)?.ms || DAY;
  const to = Date.now();
  return { from: to - ms, to };
}

/** Fine enough to show shape, coarse enough to stay a readable number of points. @param {number} span */
function bucketFor(span) {
  if (span <= 3 * HOUR) return { name: 'minute', ms: 60_000 };
  if (span <= 3 * DAY) return { name: 'hour', ms: HOUR };
  return { name: 'day', ms: DAY };
}

/** @param {unknown} data */
function rowsOf(data) {
  if (Array.isArray(data)) return data;
  const d = /** @type {any} */ (data);
  return Array.isArray(d?.rows) ? d.rows : [];
}

/** @param {HTMLElement} main @param {import('../app.js').ViewContext} ctx */
export function render(main, ctx) {
  const panels = h('div', { id: 'report-panels' });
  const searchBox = h('section', { class: 'panel', id: 'search' });
  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Reports'),
      h('p', { class: 'muted' }, 'Access records from every slave, unified.'),
    ),
    rangePicker(() => load()),
    panels,
    searchBox,
  );

  function load() {
    const win = currentWindow();
    const searchFor = renderSearch(searchBox, win, ctx);
    renderPanels(panels, win, ctx, searchFor);
  }
  load();
}

/** @param {() => void} onChange */
function rangePicker(onChange) {
  const fromInput = /** @type {HTMLInputElement} */ (
    h('input', { type: 'datetime-local', id: 'range-from', 'aria-label': 'From' })
  );
  const toInput = /** @type {HTMLInputElement} */ (
    h('input', { type: 'datetime-local', id: 'range-to', 'aria-label': 'To' })
  );
  const error = h('span', { class: 'form-error', role: 'alert' });
  const custom = h(
    'form',
    {
      class: 'custom-range',
      hidden: state.range !== 'custom',
      onsubmit(/** @type {SubmitEvent} */ e) {
        e.preventDefault();
        const from = Date.parse(fromInput.value);
        const to = Date.parse(toInput.value);
        if (!Number.isFinite(from) || !Number.isFinite(to)) {
          error.textContent = 'Enter both a start and an end.';
          return;
        }
        if (to <= from) {
          error.textContent = 'The end must come after the start.';
          return;
        }
        error.textContent = '';
        state.customFrom = from;
        state.customTo = to;
        onChange();
      },
    },
    h('label', { for: 'range-from' }, 'From'),
    fromInput,
    h('label', { for: 'range-to' }, 'to'),
    toInput,
    h('button', { type: 'submit', class: 'btn btn-primary btn-small' }, 'Apply'),
    error,
  );
  const local = (/** @type {number} */ ms) =>
    new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const buttons = RANGES.map((r) =>
    h(
      'button',
      {
        type: 'button',
        class: 'seg',
        'data-range': r.id,
        'aria-pressed': String(state.range === r.id),
        onclick() {
          for (const b of buttons) b.setAttribute('aria-pressed', String(b === this));
          state.range = r.id;
          custom.hidden = r.id !== 'custom';
          if (r.id === 'custom') {
            if (!state.customTo) {
              state.customTo = Date.now();
              state.customFrom = state.customTo - DAY;
            }
            fromInput.value = local(state.customFrom);
            toInput.value = local(state.customTo);
            fromInput.focus();
          } else onChange();
        },
      },
      r.label,
    ),
  );
  if (state.range === 'custom') {
    fromInput.value = local(state.customFrom);
    toInput.value = local(state.customTo);
  }
  return h(
    'div',
    { class: 'toolbar' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, buttons),
    custom,
    h(
      'button',
      { type: 'button', class: 'btn btn-small btn-ghost-dark', id: 'reports-refresh', onclick: onChange },
      'Refresh',
    ),
  );
}

/**
 * @param {HTMLElement} box @param {{ from: number, to: number }} win @param {import('../app.js').ViewContext} ctx
 * @param {(filters: Record<string, string>) => void} searchFor drill-down from a bar to its records
 */
function renderPanels(box, win, ctx, searchFor) {
  const bucket = bucketFor(win.to - win.from);
  const base = { from: win.from, to: win.to };
  const top = { ...base, limit: TOP };

  /**
   * One report panel: its own loading state, error banner and empty state.
   * @param {string} id @param {string} heading @param {string} path @param {Record<string, number | string>} params
   * @param {(data: any) => Node | null} draw returns null when the answer holds no rows
   * @param {string} [cls]
   */
  const panel = (id, heading, path, params, draw, cls = '') => {
    const content = h('div', { class: 'panel-body' }, loading());
    const section = h(
      'section',
      { class: `panel ${cls}`, id, 'aria-busy': 'true' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', null, heading),
        h('a', { class: 'btn btn-small csv', href: csvUrl(path, params), download: `${id}.csv` }, 'Export CSV'),
      ),
      content,
    );
    api(`/reports${path}?${query(params)}`).then(
      (data) => {
        if (!ctx.live()) return;
        replace(content, draw(data) ?? emptyState('No data in this range.'));
        section.removeAttribute('aria-busy');
      },
      (err) => {
        if (!ctx.live()) return;
        replace(content, errorBanner(err));
        section.removeAttribute('aria-busy');
      },
    );
    return section;
  };

  const stats = h('section', { class: 'cards', id: 'report-summary', 'aria-label': 'Totals in range' }, loading());
  api(`/reports/summary?${query(base)}`).then(
    (sum) => {
      if (!ctx.live()) return;
      const stat = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ id) =>
        h(
          'div',
          { class: 'card card-neutral', id },
          h('div', { class: 'card-label' }, label),
          h('div', { class: 'card-value' }, value),
        );
      replace(
        stats,
        stat('Requests', fmtInt(sum.requests), 'sum-requests'),
        stat('Blocked', fmtInt(sum.blocked), 'sum-blocked'),
        stat('Traffic', fmtBytes((sum.bytesDown ?? 0) + (sum.bytesUp ?? 0)), 'sum-bytes'),
        stat('Users · sites', `${fmtInt(sum.distinctUsers)} · ${fmtInt(sum.distinctHosts)}`, 'sum-distinct'),
      );
    },
    (err) => ctx.live() && replace(stats, errorBanner(err)),
  );

  replace(
    box,
    stats,
    panel(
      'report-timeline',
      `Traffic over time (per ${bucket.name})`,
      '/timeline',
      { ...base, bucket: bucket.name },
      (data) => {
        const rows = rowsOf(data);
        if (!rows.length) return null;
        return timelineChart({
          points: rows.map((/** @type {any} */ r) => ({ t: Number(r.time), requests: r.requests, blocked: r.blocked })),
          from: win.from,
          to: win.to,
          bucketMs: bucket.ms,
          label: 'Requests over time',
        });
      },
      'panel-wide',
    ),
    h(
      'div',
      { class: 'grid-2' },
      panel('report-top-sites', 'Top sites', '/top-sites', top, (data) =>
        bars(
          rowsOf(data),
          (r) => r.host,
          'Top sites by requests',
          (r) => `${fmtInt(r.blocked)} blocked · ${fmtBytes(r.bytesDown)} down`,
          (r) => ({ host: r.host }),
          searchFor,
        ),
      ),
      panel('report-top-users', 'Top users', '/top-users', top, (data) =>
        bars(
          rowsOf(data),
          (r) => r.user ?? '(not authenticated)',
          'Top users by requests',
          (r) => `${fmtInt(r.distinctHosts)} sites · ${fmtBytes(r.bytesDown)} down`,
          (r) => (r.user ? { user: r.user } : null),
          searchFor,
        ),
      ),
      panel('report-per-slave', 'Traffic per slave', '/per-slave', base, (data) =>
        bars(
          rowsOf(data),
          (r) => r.slave,
          'Requests per slave',
          (r) => `${fmtInt(r.blocked)} blocked · ${fmtBytes(r.bytesDown)} down`,
          (r) => ({ slave: r.slave }),
          searchFor,
        ),
      ),
      panel('report-categories', 'By category', '/categories', base, (data) =>
        bars(
          rowsOf(data),
          (r) => r.category ?? '(uncategorised)',
          'Requests by category',
          (r) => `${fmtInt(r.blocked)} blocked`,
          (r) => (r.category ? { category: r.category } : null),
          searchFor,
        ),
      ),
    ),
    panel(
      'report-blocked',
      'Blocked requests',
      '/blocked',
      { ...base, limit: 20 },
      (data) => blockedTable(rowsOf(data)),
      'panel-wide',
    ),
  );
}

/**
 * @param {any[]} rows @param {(r: any) => string} label @param {string} title @param {(r: any) => string} detail
 * @param {(r: any) => Record<string, string> | null} filterOf the search a bar leads to (null: none)
 * @param {(filters: Record<string, string>) => void} searchFor
 */
function bars(rows, label, title, detail, filterOf, searchFor) {
  if (!rows.length) return null;
  return barChart({
    rows: rows.map((r) => {
      const filter = filterOf(r);
      return {
        label: label(r),
        value: r.requests,
        detail: detail(r),
        action: 'Search its records',
        onSelect: filter ? () => searchFor(filter) : undefined,
      };
    }),
    label: title,
  });
}

/** @param {any[]} rows */
function blockedTable(rows) {
  if (!rows.length) return null;
  const max = Math.max(1, ...rows.map((r) => r.requests));
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Site', 'Rule', 'Category', 'Requests', 'Users', 'Last blocked'].map((t) =>
            h('th', { scope: 'col', class: t === 'Requests' || t === 'Users' ? 'num' : '' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            null,
            h('td', { class: 'mono' }, r.host),
            h('td', null, r.rule ?? h('span', { class: 'muted' }, 'default action')),
            h('td', null, r.category ?? '—'),
            h(
              'td',
              { class: 'num' },
              h('span', {
                class: 'inline-bar',
                style: `width:${Math.max(2, (40 * r.requests) / max)}px;background:${COLORS.blocked}`,
              }),
              fmtInt(r.requests),
            ),
            h('td', { class: 'num' }, fmtInt(r.distinctUsers)),
            h('td', { class: 'nowrap' }, fmtTime(r.lastTime)),
          ),
        ),
      ),
    ),
  );
}

/**
 * Record search with cursor paging (the API pages newest first).
 * @param {HTMLElement} box @param {{ from: number, to: number }} win @param {import('../app.js').ViewContext} ctx
 * @returns {(filters: Record<string, string>) => void} runs a search for exactly these filters
 */
function renderSearch(box, win, ctx) {
  const field = (/** @type {string} */ name, /** @type {string} */ label, /** @type {string} */ placeholder) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: `search-${name}` }, label),
      h('input', { id: `search-${name}`, name, placeholder }),
    );
  const results = h('div', { id: 'search-results', 'aria-live': 'polite' });
  const csv = /** @type {HTMLAnchorElement} */ (
    h('a', { class: 'btn btn-small csv', id: 'search-csv', download: 'records.csv' }, 'Export CSV')
  );
  /** Cursors of the pages before the current one, to go back. @type {(string | undefined)[]} */
  let trail = [];
  /** @type {string | undefined} */
  let cursor;

  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      {
        class: 'search-form',
        role: 'search',
        onsubmit(/** @type {SubmitEvent} */ e) {
          e.preventDefault();
          trail = [];
          cursor = undefined;
          void run();
        },
      },
      field('user', 'User', 'alice'),
      field('host', 'Host', 'example.com'),
      field('url', 'URL contains', '/downloads/'),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'search-action' }, 'Action'),
        h(
          'select',
          { id: 'search-action', name: 'action' },
          h('option', { value: '' }, 'any'),
          h('option', { value: 'allow' }, 'allow'),
          h('option', { value: 'deny' }, 'deny'),
          h('option', { value: 'redirect' }, 'redirect'),
        ),
      ),
      field('category', 'Category', 'social'),
      field('slave', 'Slave', 'edge-1'),
      h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search')),
    )
  );

  const filters = () => {
    const data = new FormData(form);
    /** @type {Record<string, string | number>} */
    const out = { from: win.from, to: win.to };
    for (const key of ['user', 'host', 'url', 'action', 'category', 'slave']) {
      const v = String(data.get(key) ?? '').trim();
      if (v) out[key] = key === 'host' ? v.toLowerCase() : v;
    }
    return out;
  };

  async function run() {
    const params = { ...filters(), limit: PAGE, cursor };
    csv.href = csvUrl('/search', { ...filters(), limit: 10_000 });
    replace(results, loading('Searching…'));
    try {
      const res = await api(`/reports/search?${query(params)}`);
      if (!ctx.live()) return;
      const records = res.records ?? [];
      const page = trail.length + 1;
      const prev = h(
        'button',
        { type: 'button', class: 'btn btn-small', id: 'search-prev', disabled: page === 1 },
        '← Newer',
      );
      const next = h(
        'button',
        { type: 'button', class: 'btn btn-small', id: 'search-next', disabled: !res.nextCursor },
        'Older →',
      );
      prev.addEventListener('click', () => {
        cursor = trail.pop();
        void run();
      });
      next.addEventListener('click', () => {
        trail.push(cursor);
        cursor = res.nextCursor;
        void run();
      });
      replace(
        results,
        records.length
          ? recordsTable(records)
          : emptyState(page === 1 ? 'No records match in this range.' : 'No more records.'),
        h(
          'div',
          { class: 'pager' },
          prev,
          h('span', { class: 'muted', id: 'search-page' }, `Page ${page} · ${records.length} records`),
          next,
        ),
      );
    } catch (err) {
      if (ctx.live()) replace(results, errorBanner(err));
    }
  }

  replace(
    box,
    h('div', { class: 'panel-head' }, h('h2', { id: 'search-title', tabindex: -1 }, 'Search records'), csv),
    form,
    results,
  );
  void run();

  return (/** @type {Record<string, string>} */ wanted) => {
    form.reset();
    for (const [key, value] of Object.entries(wanted)) {
      const input = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(key));
      if (input) input.value = value;
    }
    trail = [];
    cursor = undefined;
    void run();
    box.scrollIntoView({ block: 'start' });
    /** @type {HTMLElement} */ (box.querySelector('#search-title')).focus({ preventScroll: true });
  };
}

/** @param {any[]} records */
function recordsTable(records) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-compact', id: 'search-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Time', 'Slave', 'Client', 'User', 'Method', 'URL', 'Status', 'Action', 'Rule', 'Category'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
          h('th', { scope: 'col', class: 'num' }, 'Bytes'),
        ),
      ),
      h(
        'tbody',
        null,
        records.map((r) =>
          h(
            'tr',
            { 'data-time': r.time },
            h('td', { class: 'nowrap' }, fmtTime(r.time)),
            h('td', null, r.slave),
            h('td', { class: 'mono' }, r.client),
            h('td', null, r.user ?? '—'),
            h('td', null, r.method),
            h('td', { class: 'mono url', title: r.url }, r.url),
            h('td', null, String(r.status)),
            h(
              'td',
              null,
              h(
                'span',
                { class: `badge badge-${r.action === 'deny' ? 'bad' : r.action === 'redirect' ? 'warn' : 'ok'}` },
                r.action,
              ),
            ),
            h('td', null, r.rule ?? '—'),
            h('td', null, r.category ?? '—'),
            h('td', { class: 'num' }, fmtBytes(r.bytesDown + r.bytesUp)),
          ),
        ),
      ),
    ),
  );
}
