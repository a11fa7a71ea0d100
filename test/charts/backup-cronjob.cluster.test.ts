/**
 * The chart's backup CronJob on the real API server: what `backup.enabled` renders is admitted
 * (`kubectl apply`, the CronJob's schedule and pod template validated by kube-apiserver), draws no
 * warning from the restricted Pod Security Standard, and a Job made from it (as
 * `kubectl create job --from=cronjob/...` does for a backup now) carries the same pod.
 */
import { createNamespace, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { OFFLINE_KUBE_VERSION, helmOk, renderArgs } from './helm.js';

jest.setTimeout(120_000);

let ns: string;

beforeAll(async () => {
  ns = await createNamespace('backup-cron');
  await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/warn=restricted']);
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const rendered = (set: string[]) =>
  helmOk([
    'template',
    ...renderArgs({ namespace: ns, set: ['backup.enabled=true', `backup.namespace=${ns}`, ...set] }),
    '--show-only',
    'templates/backup-cronjob.yaml',
    ...OFFLINE_KUBE_VERSION,
  ]);

it('is admitted as rendered, without a Pod Security warning, and a Job made from it carries the backup pod', async () => {
  const r = await kubectl(['apply', '-f', '-'], await rendered(['backup.timeZone=Asia/Kolkata']));
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/persistentvolumeclaim\/corp-backup created/);
  expect(r.stdout).toMatch(/cronjob.batch\/corp-backup created/);
  const cron = await getJson(['cronjob', '-n', ns, 'corp-backup']);
  expect(cron.spec).toMatchObject({ schedule: '17 2 * * *', timeZone: 'Asia/Kolkata', concurrencyPolicy: 'Forbid' });

  await kubectlOk(['create', 'job', '-n', ns, '--from=cronjob/corp-backup', 'backup-now']);
  const job = await getJson(['job', '-n', ns, 'backup-now']);
  const [c] = job.spec.template.spec.containers;
  expect(c.args.slice(0, 2)).toEqual(['master', 'backup']);
  expect(c.args).toContain('--to-dir=/backup');
  expect(job.spec.template.spec.volumes.map((v: { name: string }) => v.name)).toEqual(['backup', 'admin']);
});

it('a schedule that is not cron is refused by the API server, naming spec.schedule', async () => {
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], await rendered(['backup.schedule=every night']));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/spec\.schedule/);
});
