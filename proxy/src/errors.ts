/**
 * The errors SafeSquid throws on purpose, in one file, each with a stable `code` (as undici's
 * carry `UND_ERR_*`). Callers branch on `code` or `instanceof`; API answers and logs carry the
 * code, so scripts need not parse messages; the message is for people and may be reworded.
 */
import type { ErrorDetails } from './net/error-body.js';
import { formatIssue, type PolicyIssue } from './policy/issues.js';

export abstract class SafeSquidError extends Error {
  abstract readonly code: string;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A policy (one or more PolicySets) the engine refuses; `issues` name the set, field and reason. */
export class PolicyValidationError extends SafeSquidError {
  readonly code = 'SS_POLICY_INVALID';

  constructor(readonly issues: PolicyIssue[]) {
    super(
      `policy is invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n` +
        issues.map(formatIssue).join('\n'),
    );
  }
}

/** The portal's compiler refused a policy text or bundle; `issues` say where and why. */
export class PolicyRejectedError extends SafeSquidError {
  readonly code = 'SS_POLICY_REJECTED';

  constructor(
    message: string,
    readonly issues: PolicyIssue[],
  ) {
    super(message);
  }
}

export class CidrParseError extends SafeSquidError {
  readonly code = 'SS_CIDR_INVALID';

  constructor(
    readonly value: string,
    reason: string,
  ) {
    super(`invalid CIDR "${value}": ${reason}`);
  }
}

/** A URL path no upstream should be asked for (the strict form of url-path normalisation). */
export class PathError extends SafeSquidError {
  readonly code = 'SS_PATH_INVALID';
}

/** A request target or Host the slave will not forward. */
export class TargetError extends SafeSquidError {
  readonly code = 'SS_TARGET_INVALID';
}

/** An upstream response head that is not strict HTTP/1.x; the code is the one Node's own parser uses, so one branch handles both. */
export class ResponseHeadError extends SafeSquidError {
  readonly code = 'HPE_INVALID_RESPONSE';
}

/** A proxy users file line that does not parse; `line` is 1-based. */
export class UsersFileError extends SafeSquidError {
  readonly code = 'SS_USERS_FILE_INVALID';

  constructor(
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
  ) {
    super(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`);
  }
}

/** A command line that cannot be run as written: the command prints it with its usage and exits 2. */
export class UsageError extends SafeSquidError {
  readonly code = 'SS_USAGE';
}

/** A report query parameter out of range or malformed. */
export class QueryParamError extends SafeSquidError {
  readonly code = 'SS_QUERY_PARAM_INVALID';

  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

/** A report batch from a slave that the master refuses; `field` (and `index` of the record) say where. */
export class BatchValidationError extends SafeSquidError {
  readonly code = 'SS_BATCH_INVALID';

  constructor(
    message: string,
    readonly field: string,
    readonly index?: number,
  ) {
    super(message);
  }
}

/** A request the master refuses with `status` (a report batch too large, of the wrong type, ...). */
export class HttpRefusal extends SafeSquidError {
  readonly code = 'SS_REQUEST_REFUSED';

  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
}

/** The upstream did not answer in time; the code is the one a socket timeout carries, so one branch handles both. */
export class UpstreamTimeout extends SafeSquidError {
  readonly code = 'ETIMEDOUT';
}

/** The master answered a slave's request with an error status. */
export class HttpStatusError extends SafeSquidError {
  readonly code = 'SS_MASTER_STATUS';

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A restore that would lose or mix data (a running master's files, a data dir in use, no --force). */
export class RestoreRefused extends SafeSquidError {
  readonly code = 'SS_RESTORE_REFUSED';
}

/** A backup file that is not the tar archive it should be. */
export class TarFormatError extends SafeSquidError {
  readonly code = 'SS_BACKUP_NOT_TAR';
}

/** A backup file that is damaged, truncated or not SafeSquid's. */
export class BackupFileError extends SafeSquidError {
  readonly code = 'SS_BACKUP_INVALID';
}

/** A slave's statistics post the master refuses; `field` says where. */
export class StatsPostError extends SafeSquidError {
  readonly code = 'SS_STATS_INVALID';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The report store takes no batches for now (a final backup is handing over); slaves keep them spooled. */
export class IngestPausedError extends SafeSquidError {
  readonly code = 'SS_INGEST_PAUSED';
}

/** A task request the master refuses; `field` names the bad one, `status` is the HTTP answer. */
export class TaskInputError extends SafeSquidError {
  readonly code = 'SS_TASK_INVALID';

  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
