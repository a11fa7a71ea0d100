/** The portal's JSON API (`/api/v1`), as the UI uses it. */

export class ApiError extends Error {
  /** @param {number} status @param {string} message @param {unknown} body */
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Fired on `window` when the session has expired, so the app can show the login page. */
export const UNAUTHORIZED_EVENT = 'safesquid:unauthorized';

/**
 * @param {string} path under `/api/v1`, e.g. `/cluster`
 * @param {{ method?: string, json?: unknown, text?: string, contentType?: string, headers?: Record<string, string> }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const method = options.method ?? 'GET';
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json', ...options.headers };
  /** @type {string | undefined} */
  let body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.text !== undefined) {
    headers['Content-Type'] = options.contentType ?? 'application/yaml';
    body = options.text;
  }
  // Relative to the page, so the portal also works behind a path prefix.
  const res = await fetch(`api/v1${path}`, { method, headers, body, credentials: 'same-origin' });
  const type = res.headers.get('content-type') ?? '';
  const data = res.status === 204 ? null : type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/session')) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    const message =
      data && typeof data === 'object' && typeof data.error === 'string'
        ? data.error
        : `${method} /api/v1${path} failed with HTTP ${res.status}`;
    throw new ApiError(res.status, message, data);
  }
  return data;
}

/** URL of a report as CSV, for plain links (the session cookie goes along). @param {string} path @param {Record<string, string | number | undefined>} params */
export function csvUrl(path, params) {
  return `api/v1/reports${path}?${query({ ...params, format: 'csv' })}`;
}

/** @param {Record<string, string | number | undefined | null>} params */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  return q.toString();
}
