/**
 * The chart's backup CronJob (backup.enabled, off by default) with the real helm: lint --strict,
 * what it renders, wrong values refused naming the field, and the arguments it gives the proxy
 * image's CLI are ones `safesquid master backup` takes (run for real against a closed port).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from '../support/repo.js';
import { tempDir } from '../support/temp-dir.js';
import { CHART, OFFLINE_KUBE_VERSION, find, helm, render, renderArgs, type K8sObject } from './helm.js';

jest.setTimeout(120_000);

type Any = any;

const podSpec = (cronJob: K8sObject): Any => (cronJob as Any).spec.jobTemplate.spec.template.spec;

it('helm lint --strict passes with the backup on, default and customised', async () => {
  for (const set of [
    ['backup.enabled=true'],
    [
      'backup.enabled=true',
      'backup.cluster=edge',
      'backup.namespace=gateway',
      'backup.persistence.existingClaim=nfs-backups',
      'backup.masterUrl=https://edge-master.gateway.svc:8888',
      'backup.timeZone=Asia/Kolkata',
    ],
  ]) {
    const r = await helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect({ code: r.code, out: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
  }
});

it('renders nothing for backups by default', async () => {
  const objects = await render();
  expect(objects.filter((o) => o.kind === 'CronJob' || o.kind === 'PersistentVolumeClaim')).toEqual([]);
});

it('backup.enabled: a CronJob calling the master with the operator’s admin token, writing to a kept claim', async () => {
  const objects = await render({ set: ['backup.enabled=true'] });
  const claim: Any = find(objects, 'PersistentVolumeClaim', 'corp-backup');
  expect(claim.metadata.namespace).toBe('safesquid-system');
  expect(claim.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
  expect(claim.spec.resources.requests.storage).toBe('5Gi');
  const cron: Any = find(objects, 'CronJob', 'corp-backup');
  expect(cron.metadata.namespace).toBe('safesquid-system');
  expect(cron.spec).toMatchObject({ schedule: '17 2 * * *', concurrencyPolicy: 'Forbid' });
  const pod = podSpec(cron);
  expect(pod.restartPolicy).toBe('Never');
  expect(pod.automountServiceAccountToken).toBe(false);
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
  const [c] = pod.containers;
  expect(c.image).toBe('safesquid/proxy:0.1.0');
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  expect(c.args).toEqual([
    'master',
    'backup',
    '--master=http://corp-master.safesquid-system.svc:8888',
    '--admin-token-file=/var/run/safesquid/admin/token',
    '--to-dir=/backup',
    '--keep=7',
    '--timeout=3600',
  ]);
  expect(pod.volumes).toEqual([
    { name: 'backup', persistentVolumeClaim: { claimName: 'corp-backup' } },
    {
      name: 'admin',
      secret: { secretName: 'corp-admin', items: [{ key: 'token', path: 'token' }], defaultMode: 0o440 },
    },
  ]);
});

it('takes cluster, namespace, claim, URL, secret and schedule from values', async () => {
  const objects = await render({
    set: [
      'backup.enabled=true',
      'backup.cluster=edge',
      'backup.namespace=gateway',
      'backup.persistence.existingClaim=nfs-backups',
      'backup.masterUrl=https://edge-master.gateway.svc:8888',
      'backup.adminSecret=edge-admin-custom',
      'backup.schedule=0 */6 * * *',
      'backup.keep=28',
    ],
  });
  expect(objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
  const cron: Any = find(objects, 'CronJob', 'edge-backup');
  expect(cron.metadata.namespace).toBe('gateway');
  expect(cron.spec.schedule).toBe('0 */6 * * *');
  const pod = podSpec(cron);
  expect(pod.containers[0].args).toContain('--master=https://edge-master.gateway.svc:8888');
  expect(pod.containers[0].args).toContain('--keep=28');
  expect(pod.volumes[0].persistentVolumeClaim.claimName).toBe('nfs-backups');
  expect(pod.volumes[1].secret.secretName).toBe('edge-admin-custom');
});

it.each([
  [['backup.keep=0'], /at '\/backup\/keep': minimum: got 0, want 1/],
  [['backup.cluster=Corp_1'], /at '\/backup\/cluster': 'Corp_1' does not match pattern/],
  [['backup.masterUrl=corp-master:8888'], /at '\/backup\/masterUrl': 'corp-master:8888' does not match pattern/],
  [['backup.retain=3'], /additional properties 'retain' not allowed/],
])('refuses %j naming the value', async (set, message) => {
  const r = await helm(['template', ...renderArgs({ set: ['backup.enabled=true', ...set] }), ...OFFLINE_KUBE_VERSION]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(message);
});

it('its arguments are ones safesquid master backup takes (run against a closed port: exit 1, not a usage error)', async () => {
  const cron: Any = find(await render({ set: ['backup.enabled=true'] }), 'CronJob', 'corp-backup');
  const dir = tempDir('backup-cronjob');
  try {
    writeFileSync(join(dir.path, 'token'), 'admin-token\n', { mode: 0o600 });
    const args = (podSpec(cron).containers[0].args as string[]).map((a) =>
      a
        .replace(/^--master=.*/, '--master=http://127.0.0.1:1')
        .replace('/var/run/safesquid/admin/token', join(dir.path, 'token'))
        .replace('--to-dir=/backup', `--to-dir=${dir.path}`),
    );
    const r = await promisify(execFile)(process.execPath, [join(REPO, 'proxy/dist/cli/main.js'), ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^safesquid master backup: .*ECONNREFUSED/);
  } finally {
    dir.remove();
  }
});
