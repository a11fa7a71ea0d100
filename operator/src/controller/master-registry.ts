import type { RegisteredSlave, RegistryAnswer } from './cluster-status.js';

/**
 * Reads the master's slave registry (`GET /api/v1/slaves`, admin bearer token): which slave enforces
 * which policy hash. Short timeout: an unreachable master must not hold up the reconcile queue.
 */
export async function readSlaveRegistry(
  masterURL: string,
  adminToken: string,
  timeoutMs = 2000,
): Promise<RegistryAnswer> {
  try {
    const res = await fetch(`${masterURL}/api/v1/slaves`, {
      headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}: ${text.slice(0, 200)}` };
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return { ok: false, error: 'the answer is not a list of slaves' };
    return {
      ok: true,
      slaves: list.map((s: Partial<RegisteredSlave>) => ({
        name: String(s.name),
        policyHash: typeof s.policyHash === 'string' ? s.policyHash : null,
        inSync: s.inSync === true,
        state: (s.state ?? 'offline') as RegisteredSlave['state'],
      })),
    };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return {
      ok: false,
      error:
        e.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message),
    };
  }
}
