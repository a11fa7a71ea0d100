/** Credentials carried by a `Proxy-Authorization: Basic ...` header. */
export interface BasicCredentials {
  user: string;
  password: string;
}

export type ParsedBasic = { ok: true; credentials: BasicCredentials } | { ok: false; reason: string };

const MAX_HEADER_LENGTH = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses a Basic `Proxy-Authorization` value (RFC 7617). The reasons returned never contain
 * the credentials, so they are safe to log and to put on a 407 page.
 */
export function parseBasicAuthorization(header: string | undefined): ParsedBasic {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'no Proxy-Authorization header' };
  if (header.length > MAX_HEADER_LENGTH) return { ok: false, reason: 'Proxy-Authorization header too long' };
  const match = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(header);
  if (!match) return { ok: false, reason: 'malformed Proxy-Authorization header' };
  const [, scheme, token] = match;
  if (scheme.toLowerCase() !== 'basic') return { ok: false, reason: `unsupported authentication scheme "${scheme}"` };
  if (token.length % 4 !== 0 || !BASE64.test(token))
    return { ok: false, reason: 'Basic credentials are not valid base64' };
  const decoded = new TextDecoder('utf-8', { fatal: false }).decode(Buffer.from(token, 'base64'));
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false, reason: 'Basic credentials have no ":" between user and password' };
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (user === '') return { ok: false, reason: 'Basic credentials have an empty user name' };
  if (password === '') return { ok: false, reason: 'Basic credentials have an empty password' };
  // Control characters never belong in a user name; they would also corrupt logs and LDAP DNs.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(user)) return { ok: false, reason: 'user name contains control characters' };
  return { ok: true, credentials: { user, password } };
}
