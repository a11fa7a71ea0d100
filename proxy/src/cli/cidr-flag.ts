import { CidrSet } from '../policy/cidr.js';
import { UsageError } from '../errors.js';

/** The values of a CIDR flag, checked: a bad one is a usage error naming the flag and the value. */
export function checkedCidrs(cidrs: readonly string[], flag: string): string[] {
  try {
    new CidrSet(cidrs);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
  return [...cidrs];
}

/** A repeatable flag whose values may also be comma-separated lists. */
export function commaList(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}
