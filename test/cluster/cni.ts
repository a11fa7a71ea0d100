// The real node's pod network: a Linux bridge with host-local IPAM on a pod range of its own, the
// portmap plugin for hostPorts. The bridge exists before the kubelet starts because its gateway
// address is the node's IP (not loopback, on this machine only: the kubelet, the API server's
// advertised address, cluster DNS and NodePorts all use it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PodNetwork {
  /** Linux bridge name (at most 15 characters). */
  bridge: string;
  /** e.g. 10.244.1.0/24; must not overlap the service range or any route of the host. */
  podCidr: string;
  /** The bridge's address: the pods' gateway and the node's IP. */
  nodeIp: string;
  prefixLength: number;
}

export const DEFAULT_POD_NETWORK: PodNetwork = {
  bridge: 'safesquid-br0',
  podCidr: '10.244.1.0/24',
  nodeIp: '10.244.1.1',
  prefixLength: 24,
};

function ip(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `ip ${args.join(' ')}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`,
    );
  }
}

/**
 * Creates the bridge with the node IP, and routes `serviceCidr` to it: kube-proxy rewrites service
 * addresses before a packet leaves, and with this route a packet it has not rewritten (no endpoints
 * yet, kube-proxy not synced) stays on this machine instead of following the default route.
 */
export function createBridge(net: PodNetwork, serviceCidr: string): void {
  if (existsSync(`/sys/class/net/${net.bridge}`)) {
    throw new Error(
      `pod network: bridge ${net.bridge} already exists: another real node runs on this machine, ` +
        'or one was not torn down (make cluster-down, or: ip link delete ' +
        net.bridge +
        ')',
    );
  }
  ip(['link', 'add', net.bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${net.nodeIp}/${net.prefixLength}`, 'dev', net.bridge]);
  ip(['link', 'set', net.bridge, 'up']);
  ip(['route', 'add', serviceCidr, 'dev', net.bridge, 'src', net.nodeIp]);
}

/** Writes the CNI network list containerd's CRI plugin reads; IPAM state goes under `dir` too. */
export function writeCniConfig(net: PodNetwork, confDir: string, dataDir: string): void {
  mkdirSync(confDir, { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  const conflist = {
    cniVersion: '0.4.0',
    name: 'safesquid-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        // Pods talk to this machine only: no masquerading of pod traffic to other networks.
        ipMasq: false,
        // A pod reaching itself through its own Service's address.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: net.podCidr, gateway: net.nodeIp }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(dataDir, 'host-local'),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  writeFileSync(join(confDir, '10-safesquid.conflist'), JSON.stringify(conflist, null, 2) + '\n');
}
