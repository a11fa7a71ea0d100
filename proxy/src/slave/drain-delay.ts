import type { Logger } from 'pino';

/**
 * The first part of a SIGTERM: already not ready (/readyz 503) but still serving, so that load
 * balancers and Kubernetes endpoints take the slave out before its listeners close.
 */
export async function waitOutDrainDelay(logger: Logger, drainDelayMs: number): Promise<void> {
  if (drainDelayMs <= 0) return;
  logger.info({ drainDelayMs }, 'not ready; serving on while load balancers take this slave out');
  await new Promise((r) => setTimeout(r, drainDelayMs));
}
