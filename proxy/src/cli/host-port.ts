import type { HostPort } from '../slave/slave.js';
import { UsageError } from '../errors.js';

/**
 * `--listen` and friends, the same for every command: `127.0.0.1:8888`, `[::1]:8888`, and
 * `:8888` or `8888` for every interface (host `''`).
 */
export function parseHostPort(text: string, flag: string): HostPort {
  const m =
    /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) ??
    (/^\d{1,5}$/.test(text) ? [text, undefined, '', text] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new UsageError(`--${flag} "${text}": expected HOST:PORT (e.g. 127.0.0.1:8888, :8888, [::1]:8888, 8888)`);
  return { host: m[1] ?? m[2] ?? '', port };
}
