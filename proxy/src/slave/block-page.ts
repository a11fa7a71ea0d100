/**
 * The page a client sees when the proxy refuses a request: HTML for browsers, plain text for
 * everything else. It says what was refused, why, and which rule decided, so a user can ask for
 * the right exception instead of guessing.
 */

export interface BlockInfo {
  status: number;
  title: string;
  /** What was asked for (URL, or host:port for CONNECT). */
  target: string;
  reason: string;
  rule?: string;
  policySet?: string;
  message?: string;
  /** Slave name, so the helpdesk knows which proxy answered. */
  proxy: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('text/html');
}

function ruleText(info: BlockInfo): string | undefined {
  if (!info.rule) return undefined;
  return info.policySet ? `${info.rule} (policy set ${info.policySet})` : info.rule;
}

export function renderBlockPage(info: BlockInfo, html: boolean): { contentType: string; body: string } {
  const rule = ruleText(info);
  if (!html) {
    const lines = [
      `${info.status} ${info.title}`,
      `URL: ${info.target}`,
      ...(info.message ? [`Message: ${info.message}`] : []),
      `Reason: ${info.reason}`,
      ...(rule ? [`Rule: ${rule}`] : []),
      `Proxy: ${info.proxy}`,
    ];
    return { contentType: 'text/plain; charset=utf-8', body: lines.join('\n') + '\n' };
  }
  const row = (k: string, v: string | undefined): string =>
    v === undefined ? '' : `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`;
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${info.status} ${escapeHtml(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem;color:#a11}th{text-align:left;padding-right:1rem;vertical-align:top}td{word-break:break-all}</style>
</head><body><h1>${escapeHtml(info.title)}</h1>
${info.message ? `<p>${escapeHtml(info.message)}</p>` : ''}
<table>${row('URL', info.target)}${row('Reason', info.reason)}${row('Rule', rule)}${row('Proxy', info.proxy)}</table>
<p>If you need this site for your work, contact your administrator and quote the rule above.</p>
</body></html>
`;
  return { contentType: 'text/html; charset=utf-8', body };
}
