/**
 * Ingress NetworkPolicies (egress is left open: slaves must reach the web):
 * - `<name>-master`: the portal port only from the cluster's slave pods, the `master.allowList`
 *   CIDRs, and any extra peers the caller names (the operator's own pods, which read the slave
 *   registry for `PolicySynced`).
 * - `<name>-slave`: the proxy port from the bundle's `accessRestriction.allowedClients`; when the
 *   policy sets none, from loopback and private ranges only (Squid's `localnet`, what DESIGN.md
 *   promises for a slave without allowedClients), never the whole Internet by omission. Serving
 *   everyone is an explicit `0.0.0.0/0` / `::/0` in the policy. The metrics port is open to any
 *   scraper (it serves only counters and health).
 * The slaves still enforce allowedClients themselves; these policies stop traffic earlier where the
 * network plugin enforces NetworkPolicy.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { PolicyBundle } from '@safesquid/proxy/policy';
import { childNames, metadata, selectorLabels, type ClusterRef, type KubernetesObject } from './common.js';

/** A NetworkPolicyPeer as the API takes it. */
export type NetworkPolicyPeer = Record<string, unknown>;

/** Who may use the proxy when the policy names no allowedClients. */
export const LOCALNET = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '127.0.0.0/8',
  'fc00::/7',
  '::1/128',
];

/** `10.1.2.3` → `10.1.2.3/32`, `::1` → `::1/128`; CIDRs pass (the engine and the schema checked them). */
export function toCidr(value: string): string {
  if (value.includes('/')) return value;
  if (isIPv4(value)) return `${value}/32`;
  if (isIPv6(value)) return `${value}/128`;
  throw new Error(`not an IP address or CIDR: ${JSON.stringify(value)}`);
}

/** The CIDRs the proxy port is opened to for this bundle. */
export function proxyClientCidrs(bundle: PolicyBundle): string[] {
  const allowed = bundle.accessRestriction.allowedClients;
  return (allowed.length ? allowed : LOCALNET).map(toCidr);
}

const ipBlocks = (cidrs: readonly string[]) => cidrs.map((cidr) => ({ ipBlock: { cidr: toCidr(cidr) } }));

export function buildNetworkPolicies(
  cluster: ClusterRef,
  bundle: PolicyBundle,
  portalPeers: NetworkPolicyPeer[] = [],
): KubernetesObject[] {
  const name = cluster.metadata.name;
  const names = childNames(name);
  const { master, slaves } = cluster.spec;
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: metadata(cluster, names.master, 'master'),
      spec: {
        podSelector: { matchLabels: selectorLabels(name, 'master') },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: selectorLabels(name, 'slave') } },
              ...ipBlocks(master.allowList),
              ...portalPeers,
            ],
            ports: [{ protocol: 'TCP', port: master.portalPort }],
          },
        ],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: metadata(cluster, names.slave, 'slave'),
      spec: {
        podSelector: { matchLabels: selectorLabels(name, 'slave') },
        policyTypes: ['Ingress'],
        ingress: [
          { from: ipBlocks(proxyClientCidrs(bundle)), ports: [{ protocol: 'TCP', port: slaves.proxyPort }] },
          { ports: [{ protocol: 'TCP', port: slaves.metricsPort }] },
        ],
      },
    },
  ];
}
