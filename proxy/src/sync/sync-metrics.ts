/**
 * The policy sync client's Prometheus metrics (see policy-client.ts), on the slave's registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class SyncMetrics {
  readonly polls: Counter<'result'>;
  readonly reachable: Gauge;
  readonly lastSuccess: Gauge;
  readonly applied: Counter<'source'>;
  readonly refused: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.polls = new Counter({
      name: 'safesquid_sync_polls_total',
      help: 'Policy long-polls to the master, by outcome',
      labelNames: ['result'] as const,
      registers,
    });
    this.reachable = new Gauge({
      name: 'safesquid_sync_master_reachable',
      help: '1 when the last exchange with the master succeeded',
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'safesquid_sync_last_success_timestamp_seconds',
      help: 'When the master last answered a policy poll',
      registers,
    });
    this.applied = new Counter({
      name: 'safesquid_sync_policy_changes_total',
      help: 'Policy bundles applied, by source',
      labelNames: ['source'] as const,
      registers,
    });
    this.refused = new Counter({
      name: 'safesquid_sync_policy_refused_total',
      help: 'Policy bundles the slave could not load and refused',
      registers,
    });
  }
}
