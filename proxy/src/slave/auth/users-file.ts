import { readFileSync, statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hashKind } from './password-hash.js';
import { UsersFileError } from '../../errors.js';
export { UsersFileError };

export interface UserEntry {
  hash: string;
  groups: string[];
}

const USER_NAME = /^[^\s:]+$/;
const GROUP_NAME = /^[^\s:,]+$/;

/**
 * Parses a users file: one `user:hash` or `user:hash:group1,group2` per line (htpasswd style,
 * so `htpasswd -B` output works as is); `#` starts a comment line; blank lines are ignored.
 * Hashes: bcrypt (`$2a$`, `$2b$`, `$2y$`) or argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`).
 * The whole file is refused on the first bad line, so a half-read file never replaces a good one.
 */
export function parseUsersFile(text: string, file: string): Map<string, UserEntry> {
  const users = new Map<string, UserEntry>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 2 || fields.length > 3) {
      throw new UsersFileError(
        file,
        lineNo,
        `expected "user:hash" or "user:hash:group1,group2", got ${fields.length} ":"-separated fields`,
      );
    }
    const [user, hash, groupList] = fields;
    if (!USER_NAME.test(user)) throw new UsersFileError(file, lineNo, 'empty user name or user name with white space');
    if (users.has(user)) throw new UsersFileError(file, lineNo, `user "${user}" is listed twice`);
    if (!hashKind(hash)) {
      throw new UsersFileError(
        file,
        lineNo,
        `user "${user}": the hash is neither bcrypt ($2a$/$2b$/$2y$, e.g. "htpasswd -nB") nor argon2 ($argon2id$...)`,
      );
    }
    const groups = groupList === undefined || groupList.trim() === '' ? [] : groupList.split(',').map((g) => g.trim());
    const badGroup = groups.find((g) => !GROUP_NAME.test(g));
    if (badGroup !== undefined) throw new UsersFileError(file, lineNo, `user "${user}": bad group name "${badGroup}"`);
    users.set(user, { hash, groups });
  }
  return users;
}

export function readUsersFile(file: string): Map<string, UserEntry> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsersFileError(file, undefined, `cannot read users file: ${(err as Error).message}`);
  }
  return parseUsersFile(text, file);
}

export interface UsersFileWatchEvents {
  onReload(users: Map<string, UserEntry>): void;
  onError(err: UsersFileError): void;
}

/**
 * The users of a file, kept current. It polls the file's status rather than using inotify:
 * a Kubernetes Secret volume swaps a `..data` symlink, which an inotify watch on the old file
 * never sees, while `stat` follows the link to the new content. The status is compared with
 * the one taken before the last load, so a change made while loading is not missed.
 */
export class UsersFileStore {
  private current: Map<string, UserEntry>;
  private loadedStat: Stats | undefined;
  private readonly timer: NodeJS.Timeout;
  private polling = false;
  private reportedMissing = false;

  constructor(
    readonly file: string,
    private readonly events: UsersFileWatchEvents,
    pollIntervalMs = 1000,
  ) {
    this.loadedStat = statOrUndefined(file);
    this.current = readUsersFile(file);
    this.timer = setInterval(() => void this.poll(), pollIntervalMs);
    this.timer.unref();
  }

  get(user: string): UserEntry | undefined {
    return this.current.get(user);
  }

  get size(): number {
    return this.current.size;
  }

  /** A hash of the file (same algorithm and cost as real users), for decoy verifications. */
  anyHash(): string | undefined {
    return this.current.values().next().value?.hash;
  }

  /**
   * Re-reads the file now (an administrator's "reload users" task), whatever its status says.
   * Throws a UsersFileError for a bad file and keeps the users loaded before.
   */
  reloadNow(): number {
    const st = statOrUndefined(this.file);
    this.current = readUsersFile(this.file);
    this.loadedStat = st;
    this.events.onReload(this.current);
    return this.current.size;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      let now: Stats;
      try {
        now = await stat(this.file);
      } catch (err) {
        if (!this.reportedMissing) {
          this.reportedMissing = true;
          this.events.onError(
            new UsersFileError(
              this.file,
              undefined,
              `cannot read users file (${(err as Error).message}); keeping the users loaded before`,
            ),
          );
        }
        return;
      }
      this.reportedMissing = false;
      const was = this.loadedStat;
      if (
        was &&
        now.mtimeMs === was.mtimeMs &&
        now.ino === was.ino &&
        now.size === was.size &&
        now.ctimeMs === was.ctimeMs
      )
        return;
      this.loadedStat = now;
      try {
        this.current = readUsersFile(this.file);
        this.events.onReload(this.current);
      } catch (err) {
        this.events.onError(err as UsersFileError);
      }
    } finally {
      this.polling = false;
    }
  }
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}
