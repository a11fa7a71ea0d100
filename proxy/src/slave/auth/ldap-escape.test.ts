import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue } from './ldap-escape.js';

describe('LDAP escaping', () => {
  it('escapes filter metacharacters so a name cannot widen a search', () => {
    expect(escapeFilterValue('*')).toBe('\\2a');
    expect(escapeFilterValue('a)(uid=*')).toBe('a\\29\\28uid=\\2a');
    expect(escapeFilterValue('back\\slash\u0000')).toBe('back\\5cslash\\00');
    expect(escapeFilterValue('alice')).toBe('alice');
  });

  it('escapes DN specials so a name cannot add RDNs', () => {
    expect(escapeDnValue('alice,ou=admins')).toBe('alice\\,ou\\=admins');
    expect(escapeDnValue('a+b"c<d>e;f\\g')).toBe('a\\+b\\"c\\<d\\>e\\;f\\\\g');
    expect(escapeDnValue(' #lead')).toBe('\\ #lead');
    expect(escapeDnValue('#x')).toBe('\\#x');
    expect(escapeDnValue('trail ')).toBe('trail\\ ');
  });

  it('fills templates and names unknown placeholders', () => {
    expect(fillTemplate('uid={user},ou=people', { user: 'a\\,b' }, 'bind DN')).toBe('uid=a\\,b,ou=people');
    expect(() => fillTemplate('uid={usr}', { user: 'a' }, 'bind DN')).toThrow(
      'bind DN "uid={usr}": unknown placeholder {usr}',
    );
  });

  it('reads the first RDN value of a DN, unescaped', () => {
    expect(firstRdnValue('cn=staff,ou=groups,dc=example,dc=org')).toBe('staff');
    expect(firstRdnValue('cn=R\\26D\\2c Labs,ou=groups')).toBe('R&D, Labs');
    expect(firstRdnValue('cn=a\\,b,ou=x')).toBe('a,b');
  });
});
