/**
 * Escaping of user-supplied values put into LDAP DNs and filters, so a user name can never
 * change the structure of either (LDAP injection).
 */

/** A value for a filter assertion (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL as `\XX`. */
export function escapeFilterValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[*()\\\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A value for an attribute of a DN (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  // eslint-disable-next-line no-control-regex
  out = out.replace(/\u0000/g, '\\00');
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** Replaces `{name}` placeholders with already-escaped values; unknown placeholders stay an error. */
export function fillTemplate(template: string, values: Record<string, string>, what: string): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${what} "${template}": unknown placeholder ${whole}`);
    return value;
  });
}

/** The value of the first RDN of a DN (`cn=staff,ou=groups,...` gives `staff`), unescaped. */
export function firstRdnValue(dn: string): string {
  const eq = dn.indexOf('=');
  if (eq < 0) return dn;
  let out = '';
  for (let i = eq + 1; i < dn.length; i++) {
    const c = dn[i];
    if (c === ',' || c === '+') break;
    if (c === '\\' && i + 1 < dn.length) {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        out += String.fromCharCode(parseInt(hex, 16));
        i += 2;
      } else {
        out += dn[++i];
      }
      continue;
    }
    out += c;
  }
  return out.trim();
}
