import { STATUS_CODES } from 'node:http';
import type { Refusal } from './admission.js';
import { renderBlockPage } from './block-page.js';
import type { Exchange } from './exchange.js';

/**
 * The answer to a refusal, shared by the fast path and node:http's paths: records it on the
 * exchange and returns the page with its headers (raw name/value pairs). Callers add the
 * connection handling (`Connection`, `Content-Length`) their transport needs.
 */
export function refusalPage(
  ex: Exchange,
  r: Refusal,
  o: { target: string | undefined; proxy: string; via: string; html: boolean },
): { headers: string[]; body: string } {
  ex.status = r.status;
  ex.action = r.action;
  if (r.rule !== undefined) ex.rule = r.rule;
  const page = renderBlockPage(
    {
      status: r.status,
      title: r.status === 403 ? 'Access denied' : (STATUS_CODES[r.status] ?? 'Error'),
      target: o.target ?? ex.url,
      reason: r.reason,
      rule: r.rule,
      policySet: r.policySet,
      message: r.message,
      proxy: o.proxy,
    },
    o.html,
  );
  const headers = ['Content-Type', page.contentType, 'Cache-Control', 'no-store', 'Via', o.via];
  if (r.location) headers.push('Location', r.location);
  if (r.headers) headers.push(...r.headers);
  return { headers, body: page.body };
}
