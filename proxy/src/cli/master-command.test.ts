import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './master-command.js';

describe('safesquid master flags', () => {
  let dir: string;
  let stderr: string;
  let spy: jest.SpyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'master-flags-'));
    stderr = '';
    spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
  });

  afterEach(() => {
    spy.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--listen', 'portal:http'], /--listen "portal:http": expected HOST:PORT/],
    [['--listen', '127.0.0.1:70000'], /--listen "127.0.0.1:70000": expected HOST:PORT/],
    [['--allow', '10.0.0.0/33'], /--allow: .*10\.0\.0\.0\/33/],
    [['--trust-proxy', 'ingress.local'], /--trust-proxy: invalid CIDR "ingress.local"/],
    [['--retention-days', '0'], /--retention-days must be a whole number of days/],
    [['--kube-configmap', 'just-a-name'], /--kube-configmap must be NAMESPACE\/NAME/],
    [['--policy', '/nonexistent/policy.yaml'], /--policy: no such file \/nonexistent\/policy\.yaml/],
    [['--token-file', '/nonexistent/token'], /cannot read the cluster token file \/nonexistent\/token/],
    [['--tls-cert', '/nonexistent/tls.crt'], /--tls-cert and --tls-key go together/],
    [
      ['--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'],
      /--tls-cert\/--tls-key: cannot read the portal's TLS certificate or key: .*\/nonexistent\/tls.crt/,
    ],
  ])('%j exits 2 with a message naming the problem', async (args, message) => {
    expect(await run(['--data-dir', join(dir, 'data'), '--log-level', 'silent', ...args])).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('refuses a certificate and key that do not belong together, naming both files', async () => {
    const cert = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    expect(
      await run(['--data-dir', join(dir, 'data'), '--log-level', 'silent', '--tls-cert', cert, '--tls-key', key]),
    ).toBe(2);
    expect(stderr).toContain(`the TLS certificate ${cert} and key ${key} do not load together`);
  });
});
