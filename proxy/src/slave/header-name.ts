/**
 * `name` equals `lower` (a constant of lower-case letters and `-`) ignoring case: no lower-cased
 * copy, no hashing. For a token character, `c | 0x20` is a lower-case letter only when c is that letter.
 */
export function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}
