import { readFileSync, watchFile, unwatchFile, type Stats } from 'node:fs';
import { hashKind } from './password-hash.js';

export interface UserEntry {
  hash: string;
  groups: string[];
}

export class UsersFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
  ) {
    super(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`);
    this.name = 'UsersFileError';
  }
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
      throw new UsersFileError(file, lineNo, `expected "user:hash" or "user:hash:group1,group2", got ${fields.length} ":"-separated fields`);
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
 * never sees, while `stat` follows the link to the new content.
 */
export class UsersFileStore {
  private current: Map<string, UserEntry>;
  private readonly listener = (curr: Stats, prev: Stats) => this.changed(curr, prev);

  constructor(
    readonly file: string,
    private readonly events: UsersFileWatchEvents,
    pollIntervalMs = 1000,
  ) {
    this.current = readUsersFile(file);
    watchFile(file, { interval: pollIntervalMs, persistent: false }, this.listener);
  }

  get(user: string): UserEntry | undefined {
    return this.current.get(user);
  }

  get size(): number {
    return this.current.size;
  }

  /** Re-reads the file now; a bad file keeps the users already loaded. */
  reload(): void {
    try {
      this.current = readUsersFile(this.file);
      this.events.onReload(this.current);
    } catch (err) {
      this.events.onError(err as UsersFileError);
    }
  }

  close(): void {
    unwatchFile(this.file, this.listener);
  }

  private changed(curr: Stats, prev: Stats): void {
    if (curr.nlink === 0 && curr.mtimeMs === 0) {
      this.events.onError(new UsersFileError(this.file, undefined, 'users file disappeared; keeping the users loaded before'));
      return;
    }
    if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino || curr.size !== prev.size) this.reload();
  }
}
