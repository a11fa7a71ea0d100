import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigConnection, loadKubeConnection, NeedsAuthPlugin } from './kubeconfig.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

const config = (user: string, extraCluster = '') => `apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.crt
${extraCluster}
users:
- name: u
  user:
${user}
`;

describe('kubeconfigConnection', () => {
  it('reads client certificates relative to the file, and the CA', async () => {
    write('ca.crt', 'CA');
    write('c.crt', 'CERT');
    const path = write(
      'kubeconfig',
      config(`    client-certificate: c.crt\n    client-key-data: ${Buffer.from('KEY').toString('base64')}`),
    );
    const c = kubeconfigConnection(path);
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(String(c.tls.ca)).toBe('CA');
    expect(String(c.tls.cert)).toBe('CERT');
    expect(String(c.tls.key)).toBe('KEY');
    expect(await c.headers()).toEqual({});
  });

  it('sends a bearer token, inline or from a file re-read as it rotates', async () => {
    write('ca.crt', 'CA');
    expect(await kubeconfigConnection(write('a', config('    token: abc'))).headers()).toEqual({
      authorization: 'Bearer abc',
    });
    write('tok', 'from-file\n');
    expect(await kubeconfigConnection(write('b', config('    tokenFile: tok'))).headers()).toEqual({
      authorization: 'Bearer from-file',
    });
  });

  it('honours insecure-skip-tls-verify and tls-server-name', () => {
    write('ca.crt', 'CA');
    const c = kubeconfigConnection(
      write('k', config('    token: t', '    insecure-skip-tls-verify: true\n    tls-server-name: api.example')),
    );
    expect(c.tls).toMatchObject({ rejectUnauthorized: false, servername: 'api.example' });
  });

  it('leaves auth plugins to client-node', async () => {
    write('ca.crt', 'CA');
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'from-plugin' },
    });
    const script = write('plugin.sh', `#!/bin/sh\necho '${credential}'\n`);
    const path = write(
      'k',
      config(
        `    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [${script}], interactiveMode: Never}`,
      ),
    );
    expect(() => kubeconfigConnection(path)).toThrow(NeedsAuthPlugin);
    const c = await loadKubeConnection(path);
    expect(c.source).toContain('client-node');
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(await c.headers()).toMatchObject({ authorization: 'Bearer from-plugin' });
  });

  it('names the file when it has no current context', () => {
    const path = write('k', 'apiVersion: v1\nkind: Config\ncontexts: []\n');
    expect(() => kubeconfigConnection(path)).toThrow(/kubeconfig .*: no current-context/);
  });
});
