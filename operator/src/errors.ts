/**
 * The operator's error classes, on the same base as the proxy package's (errors.ts there): each
 * has a stable `code`, and the command line's UsageError is the very same class.
 */
import { SafeSquidError, UsageError } from '@safesquid/proxy/errors';

export { SafeSquidError, UsageError };

/** An answer of the API server other than 2xx; `reason` is the Status reason (NotFound, Conflict, Expired...). */
export class KubeApiError extends SafeSquidError {
  readonly code = 'SS_KUBE_API';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`${method} ${path}: HTTP ${status} ${reason}: ${detail}`);
  }
}

/** A kubeconfig whose user authenticates by a plugin (exec, auth-provider): client-node handles those. */
export class NeedsAuthPlugin extends SafeSquidError {
  readonly code = 'SS_KUBECONFIG_PLUGIN';
}

/** A documentation claim (docs-check) that does not hold against the engine. */
export class ClaimError extends SafeSquidError {
  readonly code = 'SS_DOCS_CLAIM';
}
