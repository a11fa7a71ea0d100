/** A command line that cannot be run as written: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}
