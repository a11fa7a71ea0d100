import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, InvalidCredentialsError, NoSuchObjectError } from 'ldapts';
import type { BasicCredentials } from './basic-credentials.js';
import type { CredentialVerifier, VerifyOutcome } from './credential-verifier.js';
import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue } from './ldap-escape.js';
import type { LdapOptions } from './types.js';

const DEFAULT_SEARCH_FILTER = '(uid={user})';
const DEFAULT_GROUP_FILTER = '(member={dn})';

/**
 * LDAP simple bind: binds as the user (DN from a template, or found by a search), then reads
 * the user's groups. One short-lived connection per check; successes are cached above this.
 */
export class LdapVerifier implements CredentialVerifier {
  readonly name: string;
  private readonly tlsOptions: ConnectionOptions | undefined;
  private readonly servicePassword: string | undefined;

  constructor(private readonly opts: LdapOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new Error(`LDAP: "${opts.url}" is not a URL (expected ldap://host:port or ldaps://host:port)`);
    }
    if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') {
      throw new Error(`LDAP: "${opts.url}" must start with ldap:// or ldaps://`);
    }
    if (!opts.bindDnTemplate && !opts.searchBase) {
      throw new Error('LDAP: give a bind DN template (e.g. uid={user},ou=people,dc=example,dc=org) or a search base');
    }
    if (opts.bindDnTemplate && !opts.bindDnTemplate.includes('{user}')) {
      throw new Error(`LDAP: bind DN template "${opts.bindDnTemplate}" has no {user} placeholder`);
    }
    if (opts.serviceBindDn && !opts.serviceBindPasswordFile) {
      throw new Error(`LDAP: service account "${opts.serviceBindDn}" needs a password file`);
    }
    this.name = `LDAP ${url.host}`;
    this.servicePassword = opts.serviceBindPasswordFile ? readSecret(opts.serviceBindPasswordFile) : undefined;
    const tls = opts.tls;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (url.protocol === 'ldaps:' || tls?.startTls) {
      this.tlsOptions = {
        ca: tls?.caFile ? readFileSync(tls.caFile) : undefined,
        rejectUnauthorized: tls?.rejectUnauthorized ?? true,
        // SNI may not carry an IP address (RFC 6066); then the address itself is what is verified.
        ...(isIP(host) ? { host } : { servername: host }),
      };
    }
  }

  async verify({ user, password }: BasicCredentials): Promise<VerifyOutcome> {
    // An empty simple bind is an anonymous bind that servers accept: never let one through.
    if (password === '') return { kind: 'rejected', detail: 'empty password' };
    const timeout = this.opts.timeoutMs ?? 5000;
    // ldapts breaks StartTLS when a plain ldap:// client also has tlsOptions, and it writes the
    // socket into the options it is given: hand each call its own copy, only where it belongs.
    const startTls = this.opts.tls?.startTls === true;
    const client = new Client({
      url: this.opts.url,
      timeout,
      connectTimeout: timeout,
      tlsOptions: startTls ? undefined : { ...this.tlsOptions },
    });
    try {
      if (startTls) await client.startTLS({ ...this.tlsOptions });
      const dn = await this.userDn(client, user);
      if (dn === undefined) return { kind: 'unknown' };
      try {
        await client.bind(dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError)
          return { kind: 'rejected', detail: 'LDAP bind refused (invalid credentials)' };
        if (err instanceof NoSuchObjectError) return { kind: 'unknown' };
        throw err;
      }
      return { kind: 'ok', user, groups: await this.groups(client, dn, user) };
    } catch (err) {
      return { kind: 'error', detail: `${this.name}: ${(err as Error).message}` };
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  private async bindService(client: Client): Promise<void> {
    if (this.opts.serviceBindDn) await client.bind(this.opts.serviceBindDn, this.servicePassword);
  }

  private async userDn(client: Client, user: string): Promise<string | undefined> {
    if (this.opts.bindDnTemplate) {
      return fillTemplate(this.opts.bindDnTemplate, { user: escapeDnValue(user) }, 'LDAP bind DN template');
    }
    await this.bindService(client);
    const filter = fillTemplate(
      this.opts.searchFilter ?? DEFAULT_SEARCH_FILTER,
      { user: escapeFilterValue(user) },
      'LDAP search filter',
    );
    const { searchEntries } = await client.search(this.opts.searchBase!, {
      scope: 'sub',
      filter,
      attributes: ['1.1'],
      sizeLimit: 2,
    });
    // Two entries for one name would make the login ambiguous: refuse rather than pick one.
    if (searchEntries.length !== 1) return undefined;
    return searchEntries[0].dn;
  }

  private async groups(client: Client, dn: string, user: string): Promise<string[]> {
    const groups = new Set<string>();
    const attribute = this.opts.groupAttribute;
    if (attribute) {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: [attribute],
      });
      for (const value of asStrings(searchEntries[0]?.[attribute])) groups.add(firstRdnValue(value));
    }
    if (this.opts.groupSearchBase) {
      // The user may not read groups; the service account (when there is one) can.
      await this.bindService(client);
      const filter = fillTemplate(
        this.opts.groupSearchFilter ?? DEFAULT_GROUP_FILTER,
        { dn: escapeFilterValue(dn), user: escapeFilterValue(user) },
        'LDAP group search filter',
      );
      const nameAttribute = this.opts.groupNameAttribute ?? 'cn';
      const { searchEntries } = await client.search(this.opts.groupSearchBase, {
        scope: 'sub',
        filter,
        attributes: [nameAttribute],
      });
      for (const entry of searchEntries) {
        const [name] = asStrings(entry[nameAttribute]);
        groups.add(name ?? firstRdnValue(entry.dn));
      }
    }
    return [...groups].sort();
  }
}

function asStrings(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

function readSecret(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`LDAP: cannot read service account password file ${file}: ${(err as Error).message}`);
  }
}
