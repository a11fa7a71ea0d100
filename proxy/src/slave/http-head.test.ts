import { ChunkedDecoder } from './chunked-decoder.js';
import {
  headEnd,
  MAX_HEADER_FIELDS,
  nodeHeaders,
  parseRequestHead,
  parseResponseHead,
  ResponseHeadError,
} from './http-head.js';

function request(text: string) {
  const buf = Buffer.from(text, 'latin1');
  const end = headEnd(buf, 0);
  return end === -1 ? undefined : parseRequestHead(buf, 0, end);
}

function response(text: string, method = 'GET') {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, 0, headEnd(buf, 0), method);
}

describe('fast-path request heads', () => {
  it('parses a bodiless absolute-form request, keeping raw order and case', () => {
    const head = request(
      'GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nX-A:  1 \r\nx-a: 2\r\nConnection: keep-alive, close\r\n\r\n',
    )!;
    expect(head.method).toBe('GET');
    expect(head.target).toBe('http://a.example/x?y=1');
    expect(head.raw).toEqual(['Host', 'a.example', 'X-A', '1', 'x-a', '2', 'Connection', 'keep-alive, close']);
    expect(head.headers['x-a']).toBe('1, 2');
    expect(head.close).toBe(true);
    expect(request('GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, closed\r\n\r\n')!.close).toBe(false);
  });

  it.each([
    ['a body', 'POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n'],
    [
      'a repeated Content-Length',
      'GET http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n',
    ],
    ['Transfer-Encoding', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['Expect', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n'],
    ['an upgrade', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['HTTP/1.0', 'GET http://a/ HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['origin-form', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['https://', 'GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['an unknown method', 'FROB http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a lower-case method', 'get http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a character outside RFC 3986 in the target', 'GET http://a/<x> HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a missing Host', 'GET http://a/ HTTP/1.1\r\n\r\n'],
    ['space before the colon', 'GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['an obs-fold line', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n'],
    ['a bare CR in a value', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n'],
    ['a bare LF in a value', 'GET http://a/ HTTP/1.1\r\nHost: a\r\nX: 1\n2\r\n\r\n'],
  ])('leaves %s to node:http', (_what, text) => {
    expect(request(text)).toBeUndefined();
  });

  it('builds req.headers the way node:http does for repeated fields', () => {
    expect(
      nodeHeaders([
        'Host',
        'a',
        'host',
        'b',
        'Cookie',
        'x=1',
        'cookie',
        'y=2',
        'Set-Cookie',
        'p',
        'set-cookie',
        'q',
        'Accept',
        'a',
        'accept',
        'b',
      ]),
    ).toEqual({
      host: 'a',
      cookie: 'x=1; y=2',
      'set-cookie': ['p', 'q'],
      accept: 'a, b',
    });
  });
});

describe('fast-path response heads', () => {
  it.each([
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'GET', 'length', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'GET', 'chunked', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'GET', 'close', false],
    ['HTTP/1.1 200 OK\r\n\r\n', 'GET', 'close', false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD', 'none', true],
    ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', 'GET', 'none', true],
    ['HTTP/1.1 204 No Content\r\n\r\n', 'GET', 'none', true],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'GET', 'none', false],
    ['HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n', 'GET', 'length', false],
    ['HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n', 'GET', 'length', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\tChunked \r\n\r\n', 'GET', 'chunked', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'GET', 'close', false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nconnection: Keep-Alive ,CLOSE\r\n\r\n', 'GET', 'length', false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: closed, x-close\r\n\r\n', 'GET', 'length', true],
  ])('frames %j for %s', (text, method, framing, reusable) => {
    const head = response(text, method);
    expect(head.framing).toBe(framing);
    expect(head.reusable).toBe(reusable);
  });

  it('reads the status and reason, which may be empty or hold spaces', () => {
    expect(response('HTTP/1.1 404 Not Found Here\r\n\r\n')).toMatchObject({
      status: 404,
      statusText: 'Not Found Here',
    });
    expect(response('HTTP/1.1 200\r\n\r\n')).toMatchObject({ status: 200, statusText: '' });
    expect(response('HTTP/1.1 599 \r\n\r\n')).toMatchObject({ status: 599, statusText: '' });
  });

  it.each([
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 099 OK\r\n\r\n',
    'HTTP/1.2 200 OK\r\n\r\n',
    'HTTP/1.1 2000 OK\r\n\r\n',
    'HTTP/1.1  200 OK\r\n\r\n',
    'HTTP/1.1 200 O\nK\r\n\r\n',
    'http/1.1 200 OK\r\n\r\n',
  ])('refuses %j', (text) => {
    expect(() => response(text)).toThrow(ResponseHeadError);
  });
});

describe('chunked decoder', () => {
  const body = '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT';

  it('decodes a body fed one byte at a time and says where it ended', () => {
    const d = new ChunkedDecoder();
    let out = '';
    let end = -1;
    const buf = Buffer.from(body);
    let last = -1;
    for (let i = 0; i < buf.length && end === -1; i++) {
      end = d.feed(buf.subarray(i, i + 1), 0, (data) => (out += data.toString()));
      last = i;
    }
    expect(out).toBe('hello world');
    // The body's last byte is the LF before NEXT.
    expect(end).toBe(1);
    expect(last).toBe(body.indexOf('NEXT') - 1);
  });

  it('decodes a body in one buffer, ending before the next message', () => {
    const d = new ChunkedDecoder();
    let out = '';
    const buf = Buffer.from(body);
    const end = d.feed(buf, 0, (data) => (out += data.toString()));
    expect(out).toBe('hello world');
    expect(buf.subarray(end).toString()).toBe('NEXT');
  });

  it.each(['zz\r\n', '5\r\nhelloXX', '5\nhello\r\n'])('refuses malformed framing %j', (text) => {
    expect(() => new ChunkedDecoder().feed(Buffer.from(text), 0, () => {})).toThrow(ResponseHeadError);
  });
});

describe('header field count', () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');
  it('takes a response head with MAX_HEADER_FIELDS fields and refuses one more', () => {
    expect(response(`HTTP/1.1 200 OK\r\n${lines(MAX_HEADER_FIELDS)}\r\n`).raw).toHaveLength(2 * MAX_HEADER_FIELDS);
    expect(() => response(`HTTP/1.1 200 OK\r\n${lines(MAX_HEADER_FIELDS + 1)}\r\n`)).toThrow(
      /more than 1000 header fields/,
    );
  });
});
