import { parseOperatorArgs, UsageError } from './args.js';

const run = (argv: string[]) => {
  const r = parseOperatorArgs(argv);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.options;
};

describe('parseOperatorArgs', () => {
  it('has defaults for a Pod', () => {
    expect(run([])).toMatchObject({
      leaderElect: false,
      metricsHost: '0.0.0.0',
      metricsPort: 9090,
      resyncMs: 300_000,
      concurrency: 16,
      leaseName: 'safesquid-operator',
    });
  });

  it('reads every flag', () => {
    const o = run([
      '--kubeconfig',
      '/k',
      '--namespace',
      'gw',
      '--leader-elect',
      '--metrics-listen',
      '[::1]:0',
      '--resync-period',
      '5',
      '--master-url',
      'gw/corp=http://127.0.0.1:8888/',
      '--concurrency',
      '2',
      '--lease-namespace',
      'ops',
    ]);
    expect(o).toMatchObject({
      kubeconfig: '/k',
      namespace: 'gw',
      leaderElect: true,
      metricsHost: '::1',
      metricsPort: 0,
      resyncMs: 5000,
      concurrency: 2,
      leaseNamespace: 'ops',
    });
    expect(o.masterUrls.get('gw/corp')).toBe('http://127.0.0.1:8888');
  });

  it.each([
    [['--metrics-listen', '9090'], /--metrics-listen must be HOST:PORT/],
    [['--namespace', 'Bad_NS'], /--namespace must be a namespace name/],
    [['--resync-period', '0'], /--resync-period must be a whole number from 1/],
    [['--master-url', 'corp=http://x'], /--master-url must be NAMESPACE\/NAME=/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--log-level', 'loud'], /--log-level must be one of/],
  ])('refuses %j naming the flag', (argv, message) => {
    expect(() => parseOperatorArgs(argv)).toThrow(UsageError);
    expect(() => parseOperatorArgs(argv)).toThrow(message);
  });

  it('answers --help and --version', () => {
    expect(parseOperatorArgs(['--help']).kind).toBe('help');
    expect(parseOperatorArgs(['--version']).kind).toBe('version');
  });
});
