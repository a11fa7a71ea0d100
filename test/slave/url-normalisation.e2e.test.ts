/**
 * URL rules against an upstream that normalises (a real nginx): a `deny urlRegex: ^/secret` rule
 * must hold for every spelling nginx would serve as /secret, on the fast path (bodiless HTTP/1.1)
 * and on node:http (HTTP/1.0 is handed over), and what nginx receives is exactly the normalised
 * path the rule judged.
 */
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { rawRequest, writePolicy } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';

const POLICY = `
rules:
  - name: no-secret
    action: deny
    match: {urlRegex: "^/secret"}
accessRestriction:
  defaultAction: allow
  ssrf: {allowRanges: [127.0.0.0/8]}
`;

/** Spellings of /secret/ that nginx serves as /secret/ (checked directly first). */
const SECRET_FORMS = [
  '/secret/',
  '/%73ecret/',
  '/%73%65cret/',
  '//secret/',
  '/a/../secret/',
  '/a/%2e%2e/secret/',
  '/%2Fsecret/',
  '/public%2F..%2Fsecret/',
  '/./secret/',
];

describe('URL normalisation against nginx', () => {
  const dir = tempDir('urlnorm');
  let nginx: RunningNginx;
  let slave: SlaveProcess;

  beforeAll(async () => {
    nginx = await startNginx({
      'secret/index.html': 'THE SECRET\n',
      'public/x.txt': 'public x\n',
      'public/~a.txt': 'tilde\n',
    });
    writePolicy(`${dir.path}/policy.yaml`, 'urlnorm', POLICY);
    slave = await startSlave(['--policy', `${dir.path}/policy.yaml`]);
  }, 30_000);

  afterAll(async () => {
    await slave?.stop();
    await nginx?.stop();
    dir.remove();
  });

  const direct = (path: string, version = '1.1') =>
    rawRequest(nginx.port, `GET ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const proxied = (path: string, version: string) =>
    rawRequest(
      slave.port,
      `GET http://127.0.0.1:${nginx.port}${path} HTTP/${version}\r\nHost: 127.0.0.1:${nginx.port}\r\nConnection: close\r\n\r\n`,
    );

  it.each(SECRET_FORMS)('nginx itself serves %s as the secret (so the test below can fail)', async (path) => {
    const res = await direct(path);
    expect(res.status).toBe(200);
    expect(res.content).toBe('THE SECRET\n');
  });

  describe.each([
    ['fast path', '1.1'],
    ['node:http', '1.0'],
  ])('%s (HTTP/%s)', (_path, version) => {
    it.each(SECRET_FORMS)('denies %s', async (path) => {
      const before = nginx.requestTargets().length;
      const res = await proxied(path, version);
      expect(res.status).toBe(403);
      expect(res.content).not.toContain('THE SECRET');
      expect(nginx.requestTargets().slice(before)).toEqual([]);
    });

    it.each([
      ['/public/%78.txt', '/public/x.txt'],
      ['//public//x.txt', '/public/x.txt'],
      ['/a/../public/x.txt', '/public/x.txt'],
      ['/public/%7ea.txt', '/public/~a.txt'],
      ['/public/x.txt?q=%2f%41', '/public/x.txt?q=%2FA'],
    ])('forwards %s as %s, the path it judged', async (path, forwarded) => {
      const res = await proxied(path, version);
      expect(res.status).toBe(200);
      // nginx logs asynchronously to the response only in theory; it writes the line before the next request is read.
      expect(nginx.requestTargets().at(-1)).toBe(forwarded);
    });

    it.each([
      ['/a%00b', /%00/],
      ['/a%zzb', /malformed percent-encoding/],
    ])('refuses %s with 400', async (path, why) => {
      const res = await proxied(path, version);
      expect(res.status).toBe(400);
      expect(res.content).toMatch(why);
    });
  });
});
