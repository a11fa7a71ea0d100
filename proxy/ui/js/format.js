/** Number, byte, time and hash formatting shared by the views. */

const integer = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** @param {number | null | undefined} n */
export function fmtInt(n) {
  return typeof n === 'number' && Number.isFinite(n) ? integer.format(Math.round(n)) : '—';
}

/** "12K", "3.4M": for axis labels, where space is short. @param {number} n */
export function fmtCompact(n) {
  return compact.format(n);
}

/** @param {number | null | undefined} n */
export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** @param {string | number | null | undefined} t epoch ms or ISO string */
export function toMs(t) {
  if (t === null || t === undefined || t === '') return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** "12 s ago", "3 min ago"; "never" when absent. @param {string | number | null | undefined} t @param {number} [now] */
export function fmtAgo(t, now = Date.now()) {
  const ms = toMs(t);
  if (ms === undefined) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** @param {string | number | null | undefined} t */
export function fmtTime(t) {
  const ms = toMs(t);
  if (ms === undefined) return '—';
  return new Date(ms).toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Clock skew with a sign, in the unit a human reads. @param {number | null | undefined} ms */
export function fmtSkew(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  const sign = ms > 0 ? '+' : ms < 0 ? '−' : '±';
  const abs = Math.abs(ms);
  return abs < 1000 ? `${sign}${Math.round(abs)} ms` : `${sign}${(abs / 1000).toFixed(1)} s`;
}

/** The first 12 hex digits: enough to tell versions apart at a glance. @param {string | null | undefined} hash */
export function shortHash(hash) {
  if (!hash) return '—';
  return hash.replace(/^sha256:/, '').slice(0, 12);
}
