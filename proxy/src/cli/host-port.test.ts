import { parseHostPort } from './host-port.js';

describe('parseHostPort', () => {
  it('parses listen addresses: all interfaces, IPv4, bracketed IPv6, bare port', () => {
    expect(parseHostPort(':3128', 'listen')).toEqual({ host: '', port: 3128 });
    expect(parseHostPort('127.0.0.1:3128', 'listen')).toEqual({ host: '127.0.0.1', port: 3128 });
    expect(parseHostPort('[::1]:3128', 'listen')).toEqual({ host: '::1', port: 3128 });
    expect(parseHostPort('3128', 'listen')).toEqual({ host: '', port: 3128 });
    for (const bad of ['', 'host', '1.2.3.4:', '1.2.3.4:99999', '::1:3128'])
      expect(() => parseHostPort(bad, 'listen')).toThrow(/--listen/);
  });
});
