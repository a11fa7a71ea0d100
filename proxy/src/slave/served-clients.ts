/**
 * Which clients a slave serves, in words for its logs: an operator reading "slave started" or
 * "policy in force" sees at once whether the proxy is open to the Internet or to local networks only.
 */
import type { CompiledPolicy } from '../policy/decision.js';

export function servedClients(policy: CompiledPolicy | undefined): string {
  if (!policy) return 'none until a policy is loaded';
  const r = policy.accessRestriction;
  const list = r.servedClients.join(', ');
  if (r.localClientsOnly)
    return `loopback and private ranges only (${list}): the policy names no accessRestriction.allowedClients`;
  const all = r.servedClients.includes('0.0.0.0/0') && r.servedClients.includes('::/0');
  return all ? `every client (${list})` : list;
}
