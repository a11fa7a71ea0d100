import { buildNetworkPolicies, LOCALNET, toCidr } from './network-policies.js';
import { bundle, clusterRef } from './test-fixture.js';
import type { KubernetesObject } from './common.js';

const ingress = (o: KubernetesObject) =>
  (o.spec as { ingress: { from?: Record<string, unknown>[]; ports: { port: number }[] }[] }).ingress;

describe('NetworkPolicies', () => {
  it('master: the portal port from the slaves, master.allowList and extra peers only', () => {
    const operator = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'safesquid-system' } } };
    const [master] = buildNetworkPolicies(
      clusterRef({ master: { allowList: ['10.0.0.0/8', '192.0.2.7'], portalPort: 8443 } }),
      bundle(),
      [operator],
    );
    expect(master.metadata.name).toBe('corp-master');
    expect((master.spec as { podSelector: unknown }).podSelector).toEqual({
      matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'master' }),
    });
    expect(ingress(master)).toEqual([
      {
        from: [
          {
            podSelector: {
              matchLabels: expect.objectContaining({
                'app.kubernetes.io/instance': 'corp',
                'app.kubernetes.io/component': 'slave',
              }),
            },
          },
          { ipBlock: { cidr: '10.0.0.0/8' } },
          { ipBlock: { cidr: '192.0.2.7/32' } },
          operator,
        ],
        ports: [{ protocol: 'TCP', port: 8443 }],
      },
    ]);
  });

  it.each<[string, string[] | undefined, string[]]>([
    ['allowedClients', ['10.1.0.0/16', '2001:db8::1'], ['10.1.0.0/16', '2001:db8::1/128']],
    ['everyone, explicitly', ['0.0.0.0/0', '::/0'], ['0.0.0.0/0', '::/0']],
    ['no allowedClients: local networks only', undefined, LOCALNET],
  ])('slave: the proxy port from %s', (_what, allowedClients, cidrs) => {
    const b = bundle({
      rules: [{ name: 'all', action: 'allow' }],
      ...(allowedClients ? { accessRestriction: { allowedClients } } : {}),
    });
    const [, slave] = buildNetworkPolicies(clusterRef(), b);
    const [proxy, metrics] = ingress(slave);
    expect(proxy).toEqual({
      from: cidrs.map((cidr) => ({ ipBlock: { cidr } })),
      ports: [{ protocol: 'TCP', port: 3128 }],
    });
    // Metrics open to any scraper.
    expect(metrics).toEqual({ ports: [{ protocol: 'TCP', port: 9090 }] });
  });

  it.each([
    ['10.0.0.1', '10.0.0.1/32'],
    ['::1', '::1/128'],
    ['10.0.0.0/8', '10.0.0.0/8'],
  ])('toCidr(%s) = %s', (value, cidr) => expect(toCidr(value)).toBe(cidr));

  it('toCidr names what it cannot read', () => expect(() => toCidr('corp.example')).toThrow(/corp\.example/));
});
