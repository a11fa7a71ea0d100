/**
 * The slave's `/status` page: one small server-rendered HTML page (no script, no external
 * resource), refreshed by the browser every 5 s. Every value is escaped.
 */
import type { SlaveStatus } from './slave-status.js';

const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const bytes = (n: number): string =>
  n >= 1 << 30
    ? `${(n / (1 << 30)).toFixed(1)} GiB`
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;

const row = (key: string, value: string, id?: string): string =>
  `<tr><th scope="row">${esc(key)}</th><td${id ? ` id="${id}"` : ''}>${value}</td></tr>`;

export function renderStatusPage(s: SlaveStatus): string {
  const m = s.master;
  const c = s.counters;
  const masterRows = m
    ? [
        row('Master', esc(m.url), 'master-url'),
        row(
          'Master reachable',
          m.reachable ? '<span class="ok">yes</span>' : '<span class="bad">no: enforcing the last policy</span>',
          'master-reachable',
        ),
        row('Last sync', esc(m.lastSyncAt ?? 'never'), 'last-sync'),
      ]
    : [row('Master', 'none (standalone: the policy file is the source)', 'master-url')];
  const events = s.events.length
    ? s.events
        .slice()
        .reverse()
        .map(
          (e) =>
            `<tr class="event-${esc(e.kind)}"><td>${esc(e.time)}</td><td>${esc(e.kind)}</td><td>${esc(e.detail)}</td></tr>`,
        )
        .join('')
    : '<tr><td colspan="3">none yet</td></tr>';
  const logs = s.logs.length
    ? s.logs
        .slice()
        .reverse()
        .map(
          (l) =>
            `<tr class="log-${esc(l.level)}"><td>${esc(l.time)}</td><td>${esc(l.level)}</td><td>${esc(l.msg)}${l.detail ? ` <code>${esc(l.detail)}</code>` : ''}</td></tr>`,
        )
        .join('')
    : '<tr><td colspan="3">none</td></tr>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SafeSquid slave ${esc(s.name)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2433;max-width:70rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #dde2ea;vertical-align:top}
th[scope=row]{width:14rem;font-weight:600}code{font-size:12px;color:#4a5568;word-break:break-all}
.ok{color:#17703a}.bad{color:#b42318;font-weight:600}.log-error td,.log-fatal td{color:#b42318}
.muted{color:#6b7280}
</style></head>
<body>
<h1>SafeSquid slave <span id="slave-name">${esc(s.name)}</span></h1>
<p class="muted">Read-only. Version ${esc(s.version)}, started ${esc(s.startedAt)}; this page at ${esc(s.now)} (refreshes every 5 s). JSON: <a href="/status.json">/status.json</a>.</p>
<h2>Policy and sync</h2>
<table id="policy">
${row('Policy hash', esc(s.policy.hash ?? 'none loaded'), 'policy-hash')}
${row('Came from', esc(s.policy.source ?? '-'), 'policy-source')}
${row('In force since', esc(s.policy.since ?? '-'))}
${s.workers ? row('Workers', `${s.workers.count} (policy ${[...new Set(s.workers.policyHashes)].map(esc).join(', ')})`, 'workers') : ''}
${masterRows.join('\n')}
</table>
<h2>Counters</h2>
<table id="counters">
${row('HTTP requests', String(c.requests), 'c-requests')}
${row('CONNECT tunnels', String(c.tunnels), 'c-tunnels')}
${row('Denied', String(c.denies), 'c-denies')}
${row('Refused before policy', String(c.errors), 'c-errors')}
${row('Bytes up / down', `${bytes(c.bytesUp)} / ${bytes(c.bytesDown)}`)}
${row('Open connections / tunnels', `${c.activeConnections} / ${c.activeTunnels}`)}
${row('Reports sent / dropped', `${c.recordsSent} / ${c.recordsDropped}`)}
${row('Reports waiting (memory / spool)', `${c.queueRecords} records / ${c.spoolBatches} batches, ${bytes(c.spoolBytes)}`, 'c-spool')}
${row('Memory (RSS)', bytes(c.rssBytes))}
</table>
<h2>Recent sync events</h2>
<table id="events"><thead><tr><th>time</th><th>event</th><th>detail</th></tr></thead><tbody>${events}</tbody></table>
<h2>Recent warnings and errors</h2>
<table id="logs"><thead><tr><th>time</th><th>level</th><th>message</th></tr></thead><tbody>${logs}</tbody></table>
</body></html>
`;
}
