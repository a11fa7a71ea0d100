import { endToEndHeaders, endToEndLines, fieldLines, rawHeader, rawHeaderCount } from './hop-headers.js';
import { nameIs } from './header-name.js';
import { headEnd, parseResponseHead } from './http-head.js';

describe('endToEndHeaders', () => {
  const raw = [
    'Host',
    'a',
    'Connection',
    'keep-alive, X-Secret',
    'X-Secret',
    '1',
    'Keep-Alive',
    'timeout=5',
    'Proxy-Authorization',
    'Basic x',
    'Proxy-Connection',
    'keep-alive',
    'TE',
    'trailers',
    'Transfer-Encoding',
    'chunked',
    'Upgrade',
    'websocket',
    'Set-Cookie',
    'a=1',
    'Set-Cookie',
    'b=2',
    'X-Debug',
    'on',
  ];

  it('drops hop-by-hop fields, those the Connection header names, and proxy credentials; keeps repeats and order', () => {
    expect(endToEndHeaders(raw, { drop: ['host'] })).toEqual([
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Debug',
      'on',
    ]);
  });

  it('keeps Upgrade and Connection for upgrade handshakes', () => {
    const out = endToEndHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'X', 'y'], { keepUpgrade: true });
    expect(out).toEqual(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'X', 'y']);
  });

  it('applies policy edits: remove, set (replacing every instance), add', () => {
    const out = endToEndHeaders(['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-debug', 'on', 'Accept', '*/*'], {
      edits: { remove: ['X-Debug'], set: { 'set-cookie': 'only=1' }, add: { Accept: 'text/html' } },
    });
    expect(out).toEqual(['Accept', '*/*', 'set-cookie', 'only=1', 'Accept', 'text/html']);
  });
});

describe('rawHeader', () => {
  it('finds case-insensitively and counts repeats', () => {
    const raw = ['HOST', 'a', 'host', 'b'];
    expect(rawHeader(raw, 'host')).toBe('a');
    expect(rawHeaderCount(raw, 'host')).toBe(2);
    expect(rawHeader(raw, 'via')).toBeUndefined();
  });
});

describe('nameIs', () => {
  it('compares a field name with a lower-case constant, ignoring case only', () => {
    expect(nameIs('X-Forwarded-For', 'x-forwarded-for')).toBe(true);
    expect(nameIs('CONTENT-LENGTH', 'content-length')).toBe(true);
    expect(nameIs('x_forwarded_for', 'x-forwarded-for')).toBe(false);
    expect(nameIs('Hos', 'host')).toBe(false);
    expect(nameIs('Hosts', 'host')).toBe(false);
    expect(nameIs('Hoqt', 'host')).toBe(false);
  });
});

describe('endToEndLines', () => {
  const head = (fields: string) => {
    const buf = Buffer.from(`HTTP/1.1 200 OK\r\n${fields}\r\n`, 'latin1');
    return parseResponseHead(buf, 0, headEnd(buf, 0), 'GET');
  };

  it('forwards the kept field lines as written, dropping hop-by-hop ones and `drop` anywhere', () => {
    const h = head(
      'Host: a\r\nX-A:  1 \r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nx-b:2\r\nTE: trailers\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n',
    );
    expect(endToEndLines(h, ['host'])).toBe('X-A:  1 \r\nx-b:2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n');
    // Same fields as endToEndHeaders keeps.
    expect(fieldLines(endToEndHeaders(h.raw, { drop: ['host'] }))).toBe(
      'X-A: 1\r\nx-b: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n',
    );
    expect(endToEndLines(head('Connection: close\r\n'))).toBe('');
  });

  it('leaves heads whose Connection header names more fields to endToEndHeaders', () => {
    expect(endToEndLines(head('Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nX-Ok: 2\r\n'))).toBeUndefined();
  });
});
