/**
 * The slave's counters as plain numbers, read from its Prometheus registry (the metrics are the
 * one place they are counted): what `/status` shows and what the slave posts to the master.
 */
import type { Registry } from 'prom-client';

interface Value {
  labels: Record<string, string | number | undefined>;
  value: number;
}

async function values(registry: Registry, name: string): Promise<Value[]> {
  const m = registry.getSingleMetric(name);
  if (!m) return [];
  return ((await m.get()) as { values: Value[] }).values;
}

/** Sum of a metric's series, optionally only those whose label `key` is `value`. */
export async function metricSum(registry: Registry, name: string, key?: string, value?: string): Promise<number> {
  let sum = 0;
  for (const v of await values(registry, name)) if (key === undefined || v.labels[key] === value) sum += v.value;
  return sum;
}

export interface ProxyCounters {
  requests: number;
  tunnels: number;
  denies: number;
  errors: number;
  bytesUp: number;
  bytesDown: number;
  activeConnections: number;
  activeTunnels: number;
}

export async function readProxyCounters(registry: Registry): Promise<ProxyCounters> {
  const sum = (name: string, key?: string, value?: string) => metricSum(registry, name, key, value);
  const [requests, tunnels, denyHttp, denyTunnel, errors, bytesUp, bytesDown, activeConnections, activeTunnels] =
    await Promise.all([
      sum('safesquid_proxy_requests_total'),
      sum('safesquid_proxy_tunnels_total'),
      sum('safesquid_proxy_requests_total', 'action', 'deny'),
      sum('safesquid_proxy_tunnels_total', 'action', 'deny'),
      sum('safesquid_proxy_rejected_total'),
      sum('safesquid_proxy_bytes_total', 'direction', 'up'),
      sum('safesquid_proxy_bytes_total', 'direction', 'down'),
      sum('safesquid_proxy_active_connections'),
      sum('safesquid_proxy_active_tunnels'),
    ]);
  return {
    requests,
    tunnels,
    denies: denyHttp + denyTunnel,
    errors,
    bytesUp,
    bytesDown,
    activeConnections,
    activeTunnels,
  };
}

/** CPU of this process between two calls, in % of one core. */
export class CpuMeter {
  private last = process.cpuUsage();
  private lastAt = process.hrtime.bigint();

  percent(): number {
    const now = process.hrtime.bigint();
    const usage = process.cpuUsage();
    const cpuUs = usage.user - this.last.user + (usage.system - this.last.system);
    const wallUs = Number(now - this.lastAt) / 1000;
    this.last = usage;
    this.lastAt = now;
    return wallUs > 0 ? Math.round((cpuUs / wallUs) * 1000) / 10 : 0;
  }
}
