/**
 * Log messages that other programs read: tests wait for them, runbooks quote them, and users
 * alert on them. Changing one is an interface change, so each is declared here once, with the
 * fields it carries, and `log-messages.test.ts` pins the text.
 */
export const LOG = {
  /** fields: listen (host:port[]), metrics (port or undefined), policy (hash), clients (CIDRs served) */
  slaveStarted: 'slave started',
  /** fields as slaveStarted, from each worker process of `--workers N` */
  workerStarted: 'worker started',
  /** fields: url, mode (standalone | kubernetes), policyHash, allow */
  portalListening: 'Configuration Portal listening',
  /** fields: client, method, path, status, reason */
  portalRequestRefused: 'portal request refused',
  /** fields: path, error, keptHash */
  policyFileRefused: 'refused the new policy file; the policy in force stays',
  /** fields: file, line, err */
  proxyUsersRefused: 'proxy users file refused; keeping the previous users',
  /** fields: origin, err */
  policyConfigMapRefused: 'policy ConfigMap does not load; keeping the previous policy',
} as const;

export type LogMessage = (typeof LOG)[keyof typeof LOG];
