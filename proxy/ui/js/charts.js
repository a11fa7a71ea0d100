/**
 * Charts drawn as inline SVG: no library, nothing loaded from elsewhere, and every mark is
 * an element a test can count (`.point` per timeline bucket with data, `.bar` per bar).
 */
import { h, s } from './dom.js';
import { fmtCompact, fmtInt } from './format.js';

/** Series colours; the CSS legend and the screenshot test use the same values. */
export const COLORS = { requests: '#2563eb', blocked: '#dc2626' };

/** A "nice" axis maximum and step (1, 2, 5 × 10^n) for `max`. @param {number} max @param {number} ticks */
function niceScale(max, ticks = 4) {
  if (max <= 0) return { top: ticks, step: 1 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((c) => c >= raw) ?? 10 * mag;
  return { top: Math.max(step, Math.ceil(max / step) * step), step: Math.max(1, step) };
}

/**
 * @typedef {{ t: number, requests: number, blocked: number }} TimelinePoint
 * @param {{ points: TimelinePoint[], from: number, to: number, bucketMs: number, label: string }} opts
 */
export function timelineChart({ points, from, to, bucketMs, label }) {
  const W = 800;
  const H = 260;
  const pad = { l: 56, r: 16, t: 16, b: 32 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;

  // Every bucket in the range is drawn, empty ones at zero, so gaps read as "no traffic".
  const start = Math.floor(from / bucketMs) * bucketMs;
  const end = Math.max(start, Math.floor((to - 1) / bucketMs) * bucketMs);
  const byT = new Map(points.map((p) => [Math.floor(p.t / bucketMs) * bucketMs, p]));
  /** @type {TimelinePoint[]} */
  const series = [];
  for (let t = start; t <= end; t += bucketMs) {
    const p = byT.get(t);
    series.push({ t, requests: p?.requests ?? 0, blocked: p?.blocked ?? 0 });
  }
  const { top, step } = niceScale(Math.max(0, ...series.map((p) => p.requests)));
  const span = Math.max(1, end - start);
  const x = (/** @type {number} */ t) => pad.l + (series.length === 1 ? iw / 2 : ((t - start) / span) * iw);
  const y = (/** @type {number} */ v) => pad.t + ih - (v / top) * ih;

  const grid = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(s('line', { class: 'grid', x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }));
    grid.push(s('text', { class: 'axis', x: pad.l - 8, y: y(v) + 4, 'text-anchor': 'end' }, fmtCompact(v)));
  }
  const xTicks = [];
  const tickCount = Math.min(6, series.length);
  const fmt = timeTickFormat(bucketMs, span);
  for (let i = 0; i < tickCount; i++) {
    const p = series[Math.round((i * (series.length - 1)) / Math.max(1, tickCount - 1))];
    xTicks.push(
      s(
        'text',
        {
          class: 'axis',
          x: x(p.t),
          y: H - 10,
          'text-anchor': i === 0 ? 'start' : i === tickCount - 1 ? 'end' : 'middle',
        },
        fmt(p.t),
      ),
    );
  }

  const line = (/** @type {'requests' | 'blocked'} */ key) =>
    series.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join('');
  const area = `${line('requests')}L${x(series.at(-1).t).toFixed(1)},${y(0)}L${x(start).toFixed(1)},${y(0)}Z`;
  const marks = series
    .filter((p) => byT.has(p.t))
    .map((p) =>
      s(
        'circle',
        {
          class: 'point',
          cx: x(p.t).toFixed(1),
          cy: y(p.requests).toFixed(1),
          r: 3,
          fill: COLORS.requests,
          'data-t': p.t,
          'data-requests': p.requests,
        },
        s(
          'title',
          null,
          `${new Date(p.t).toLocaleString('en-GB')}: ${fmtInt(p.requests)} requests, ${fmtInt(p.blocked)} blocked`,
        ),
      ),
    );

  const total = series.reduce((a, p) => a + p.requests, 0);
  const blocked = series.reduce((a, p) => a + p.blocked, 0);
  return h(
    'figure',
    { class: 'chart chart-timeline' },
    s(
      'svg',
      {
        viewBox: `0 0 ${W} ${H}`,
        role: 'img',
        'aria-label': `${label}: ${fmtInt(total)} requests, ${fmtInt(blocked)} blocked, in ${series.length} intervals`,
      },
      grid,
      s('path', { class: 'area', d: area, fill: COLORS.requests, 'fill-opacity': 0.12 }),
      s('path', {
        class: 'line line-requests',
        d: line('requests'),
        fill: 'none',
        stroke: COLORS.requests,
        'stroke-width': 2,
      }),
      s('path', {
        class: 'line line-blocked',
        d: line('blocked'),
        fill: 'none',
        stroke: COLORS.blocked,
        'stroke-width': 2,
      }),
      marks,
      xTicks,
    ),
    h(
      'figcaption',
      { class: 'legend' },
      h('span', null, h('i', { class: 'swatch', style: `background:${COLORS.requests}` }), 'Requests'),
      h('span', null, h('i', { class: 'swatch', style: `background:${COLORS.blocked}` }), 'Blocked'),
    ),
  );
}

/** @param {number} bucketMs @param {number} span */
function timeTickFormat(bucketMs, span) {
  const day = 86_400_000;
  if (bucketMs >= day)
    return (/** @type {number} */ t) => new Date(t).toLocaleDateString('en-GB', { day: '2-digit', month: 'short' });
  if (span > day)
    return (/** @type {number} */ t) =>
      new Date(t).toLocaleString('en-GB', { day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit' });
  return (/** @type {number} */ t) => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

/**
 * Horizontal bars, largest first as given. A row with `onSelect` is a button (click, Enter, Space).
 * @param {{ rows: { label: string, value: number, detail?: string, onSelect?: () => void, action?: string }[], color?: string, label: string, valueFormat?: (n: number) => string }} opts
 */
export function barChart({ rows, color = COLORS.requests, label, valueFormat = fmtInt }) {
  const W = 560;
  const rowH = 28;
  const labelW = 190;
  const valueW = 80;
  const H = rows.length * rowH + 4;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const bw = W - labelW - valueW - 16;
  const bars = rows.map((r, i) => {
    const y = i * rowH + 4;
    const text = r.label.length > 24 ? `${r.label.slice(0, 23)}…` : r.label;
    const select = r.onSelect;
    return s(
      'g',
      select
        ? {
            class: 'bar-row bar-link',
            tabindex: 0,
            role: 'button',
            'aria-label': `${r.label}: ${valueFormat(r.value)}. ${r.action ?? 'Select'}`,
            onclick: select,
            onkeydown(/** @type {KeyboardEvent} */ e) {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                select();
              }
            },
          }
        : { class: 'bar-row' },
      s('title', null, `${r.label}: ${valueFormat(r.value)}${r.detail ? ` (${r.detail})` : ''}`),
      s(
        'text',
        { class: 'bar-label', x: labelW - 8, y: y + rowH / 2 + 1, 'text-anchor': 'end', 'dominant-baseline': 'middle' },
        text,
      ),
      s('rect', { class: 'bar-track', x: labelW, y: y + 4, width: bw, height: rowH - 10, rx: 3 }),
      s('rect', {
        class: 'bar',
        x: labelW,
        y: y + 4,
        width: Math.max(2, (r.value / max) * bw).toFixed(1),
        height: rowH - 10,
        rx: 3,
        fill: color,
        'data-value': r.value,
      }),
      s(
        'text',
        { class: 'bar-value', x: labelW + bw + 8, y: y + rowH / 2 + 1, 'dominant-baseline': 'middle' },
        valueFormat(r.value),
      ),
    );
  });
  return h(
    'figure',
    { class: 'chart chart-bars' },
    s(
      'svg',
      {
        viewBox: `0 0 ${W} ${H}`,
        role: 'img',
        'aria-label': `${label}: ${rows.map((r) => `${r.label} ${valueFormat(r.value)}`).join(', ')}`,
        style: `aspect-ratio:${W}/${H}`,
      },
      bars,
    ),
  );
}
