/**
 * The operator's log messages that other programs read (tests wait for them, runbooks quote
 * them): declared once with their fields, pinned by log-messages.test.ts. The slave's and the
 * master's are in proxy/src/log-messages.ts.
 */
export const OPERATOR_LOG = {
  /** fields: version, identity, metrics (host:port), namespace, leaderElect, server, credentials */
  started: 'operator started',
  /** fields: identity, lease */
  becameLeader: 'became leader',
} as const;
