import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './policy-command.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const example = join(examples, 'corp-baseline.yaml');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'policy-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const lists = `
categories: [{name: games, domains: ["*.games.test"]}]
userGroups: [{name: kids, users: [tim]}]
timeProfiles: [{name: school, days: [Mon, Tue, Wed, Thu, Fri], from: "08:00", to: "15:00", timeZone: Europe/Berlin}]
`;
const rules = `
apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: family}
spec:
  priority: 10
  rules:
    - {name: audit-games, action: deny, mode: report, match: {categories: [games]}}
    - {name: no-games-at-school, action: deny, message: Not during school, match: {categories: [games], groups: [kids], time: school}}
    - {name: allow-home, action: allow, match: {sources: [192.168.0.0/16, "fd00::/8"]}}
`;

describe('policy validate', () => {
  test('valid files: one summary line per file, then the bundle hash', async () => {
    const a = file('lists.yaml', lists);
    const b = file('rules.yaml', rules);
    const r = await cli('validate', a, b);
    expect(r).toMatchObject({ code: 0, err: '' });
    const lines = r.out.split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(`^${a}: ok: 1 PolicySet \\(lists\\), 0 rules, 0 header rules, 1 categories, sha256:[0-9a-f]{64}$`),
      ),
      `${b}: ok: 1 PolicySet (family), 3 rules, 0 header rules, 0 categories, uses lists from the other files`,
      expect.stringMatching(/^bundle: sha256:[0-9a-f]{64} \(2 PolicySets, 3 rules\)$/),
      '',
    ]);
    // The lists file alone hashes differently from the bundle of both.
    expect(lines[0].slice(-71)).not.toBe(lines[2].slice(8, 79));
    const single = await cli('validate', a);
    expect(single.out.split('\n')[0].slice(-71)).toBe(single.out.split('\n')[1].slice(8, 79));
  });

  test.each(readdirSync(examples).filter((f) => /\.(ya?ml|json)$/.test(f)))(
    'the shipped example %s is valid',
    async (name) => {
      const r = await cli('validate', join(examples, name));
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    },
  );

  test('several PolicySets setting the access restriction get a note naming the one that applies', async () => {
    const f = file(
      'two-restrictions.yaml',
      'apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: b}\nspec: {priority: 1, accessRestriction: {defaultAction: allow}}\n---\napiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: a}\nspec: {priority: 2, accessRestriction: {defaultAction: deny}}\n',
    );
    const r = await cli('validate', f);
    expect(r.code).toBe(0);
    expect(r.out).toContain('note: accessRestriction is set by b, a; only "b" (first by priority, then name) applies');
  });

  test('a reference to a list in a file not given is an error naming file, PolicySet, path', async () => {
    const b = file('rules-alone.yaml', rules);
    const r = await cli('validate', b);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${b}: family: rules[0].match.categories[0]: unknown category "games" (none are defined) (rule "audit-games")`,
    );
    expect(r.err).toContain(`${b}: family: rules[1].match.time: unknown time profile "school"`);
    expect(r.out).toBe('');
  });

  test('every issue of every file is printed', async () => {
    const bad = file('bad.yaml', 'rules:\n  - {name: x, action: redirect, match: {urlRegex: "(?<=a)b", ports: [0]}}\n');
    const broken = file('broken.yaml', 'rules: [\n');
    const missing = join(dir, 'missing.yaml');
    const r = await cli('validate', bad, broken, missing);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^.*broken\.yaml: line \d+, column \d+: /),
        `${missing}: cannot read: no such file`,
        `${bad}: bad: rules[0].match.ports[0]: must be at least 1; got 0`,
        `${bad}: bad: rules[0].redirectTo: required when action is redirect (rule "x")`,
        expect.stringMatching(/^.*bad\.yaml: bad: rules\[0\]\.match\.urlRegex: invalid regular expression/),
      ]),
    );
    expect(lines).toHaveLength(5);
  });

  test.each([
    [['validate'], 'safesquid policy validate: give at least one FILE'],
    [['validate', '--strict'], 'safesquid policy validate: unknown option "--strict"'],
    [['frobnicate'], 'safesquid policy: unknown subcommand "frobnicate"'],
    [[], 'usage: safesquid policy validate FILE...'],
  ])('usage error %j exits 2', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });
});

describe('policy explain', () => {
  let files: string[];
  beforeAll(() => {
    files = [file('l.yaml', lists), file('r.yaml', rules)];
  });

  test('names the deciding rule and why each earlier rule did not decide', async () => {
    // Monday 09:30 in Berlin.
    const r = await cli(
      'explain',
      ...files,
      '--url',
      'https://WWW.Games.Test./play',
      '--client',
      '192.168.1.5',
      '--user',
      'tim',
      '--time',
      '2026-11-23T08:30:00Z',
    );
    expect(r).toMatchObject({ code: 0, err: '' });
    const lines = r.out.split('\n');
    expect(lines).toContain('host:     www.games.test (categories: games)');
    expect(lines).toContain('decision: DENY by rule "no-games-at-school" of PolicySet "family"');
    expect(lines).toContain('message:  Not during school');
    expect(r.out).toMatch(
      /1\. family\/audit-games +REPORTED +matches in report mode: would deny; evaluation continues/,
    );
    expect(r.out).toMatch(
      /2\. family\/no-games-at-school +DECIDES +every condition holds: deny \("Not during school"\)/,
    );
    expect(r.out).not.toContain('allow-home');
  });

  test('outside the time profile the next rule decides; the failed condition is explained', async () => {
    // Monday 16:00 in Berlin.
    const r = await cli(
      'explain',
      ...files,
      '--url',
      'http://a.games.test/',
      '--client',
      'fd00::7',
      '--user',
      'tim',
      '--time',
      '2026-11-23T15:00:00Z',
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain('decision: ALLOW by rule "allow-home" of PolicySet "family"');
    expect(r.out).toMatch(
      /no-games-at-school +no +time: time profile "school" \(Mon,Tue,Wed,Thu,Fri 08:00-15:00 Europe\/Berlin\) is not active at Mon 16:00 Europe\/Berlin/,
    );
  });

  test('no rule matches: the default action and every rule with its failed condition', async () => {
    const r = await cli(
      'explain',
      ...files,
      '--url',
      'example.org:443',
      '--client',
      '203.0.113.9',
      '--time',
      '2026-11-23T08:30:00Z',
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain('request:  CONNECT example.org:443 from 203.0.113.9');
    expect(r.out).toContain('decision: DENY: no rule matched; default action deny');
    expect(r.out).toMatch(/audit-games +no +categories: host example\.org is in no category; rule needs \[games\]/);
    expect(r.out).toMatch(/allow-home +no +sources: client 203\.0\.113\.9 not in \[192\.168\.0\.0\/16, fd00::\/8\]/);
  });

  test('--json gives the structured explanation; --mime decides response rules', async () => {
    const pending = await cli('explain', example, '--url', 'https://dl.test/x', '--client', '10.0.0.1', '--json');
    const before = JSON.parse(pending.out);
    expect(before.decision).toMatchObject({ action: 'allow', rule: 'allow-lan', needsResponse: true });
    expect(before.rules.find((r: { rule: string }) => r.rule === 'block-executables').outcome).toBe('pending');
    const decided = JSON.parse(
      (
        await cli(
          'explain',
          example,
          '--url',
          'https://dl.test/x',
          '--client',
          '10.0.0.1',
          '--mime',
          'application/x-msdownload',
          '--json',
        )
      ).out,
    );
    expect(decided.decision).toMatchObject({
      action: 'deny',
      rule: 'block-executables',
      message: 'Executable downloads are blocked',
    });
    expect(decided.admission).toEqual({ clientAllowed: true });
  });

  test('header rule edits are shown', async () => {
    const r = await cli('explain', example, '--url', 'https://www.google.com/search?q=x', '--client', '10.0.0.1');
    expect(r.out).toContain('headers:  request: set cookie-extra: SS=1; remove x-debug');
    const json = JSON.parse(
      (await cli('explain', example, '--url', 'https://example.org/', '--client', '10.0.0.1', '--json')).out,
    );
    expect(json.headerEdits).toEqual({});
  });

  test('CONNECT to a port outside connectPorts and a client outside allowedClients are flagged', async () => {
    const r = await cli('explain', example, '--url', '[2001:db8::1]:8443', '--client', '2001:db8::99');
    expect(r.out).toContain('CONNECT to port 8443 is not in accessRestriction.connectPorts');
    expect(r.out).toContain('client 2001:db8::99 is not in accessRestriction.allowedClients');
  });

  test('request headers and methods', async () => {
    const f = file(
      'h.yaml',
      'rules:\n  - {name: no-curl, action: deny, match: {methods: [POST], requestHeaders: [{name: User-Agent, regex: curl}]}}\naccessRestriction: {defaultAction: allow}\n',
    );
    const get = await cli(
      'explain',
      f,
      '--url',
      'https://x.test/',
      '--client',
      '10.0.0.1',
      '--header',
      'User-Agent: curl/8',
    );
    expect(get.out).toMatch(/no-curl +no +methods: method GET not in \[POST\]/);
    const post = await cli(
      'explain',
      f,
      '--url',
      'https://x.test/',
      '--client',
      '10.0.0.1',
      '--method',
      'post',
      '--header',
      'User-Agent: Firefox',
    );
    expect(post.out).toMatch(/no-curl +no +requestHeaders: header User-Agent "Firefox" does not match "curl"/);
    const curl = await cli(
      'explain',
      f,
      '--url',
      'https://x.test/',
      '--client',
      '10.0.0.1',
      '--method',
      'POST',
      '--header',
      'user-agent: curl/8',
    );
    expect(curl.out).toContain('decision: DENY by rule "no-curl"');
  });

  test('an invalid policy exits 1 with its issues', async () => {
    const r = await cli('explain', files[1], '--url', 'https://x.test/', '--client', '10.0.0.1');
    expect(r.code).toBe(1);
    expect(r.err).toContain('unknown category "games"');
  });

  test.each([
    [['explain', '--url', 'https://x.test/', '--client', '10.0.0.1'], 'give at least one FILE'],
    [['explain', 'f.yaml', '--client', '10.0.0.1'], '--url is required'],
    [['explain', 'f.yaml', '--url', 'https://x.test/'], '--client is required'],
    [['explain', 'f.yaml', '--url', 'https://x.test/', '--client', 'me'], '--client "me": not an IPv4 or IPv6 address'],
    [
      ['explain', 'f.yaml', '--url', 'ftp://x.test/', '--client', '10.0.0.1'],
      '--url "ftp://x.test/": only http and https URLs',
    ],
    [
      ['explain', 'f.yaml', '--url', 'x.test', '--client', '10.0.0.1'],
      '--url "x.test": expected https://host/path, http://host/path or host:port (CONNECT)',
    ],
    [['explain', 'f.yaml', '--url', 'x.test:99999', '--client', '10.0.0.1'], '--url "x.test:99999": expected'],
    [
      ['explain', 'f.yaml', '--url', 'https://x.test/', '--client', '10.0.0.1', '--time', 'yesterday'],
      '--time "yesterday": expected an ISO 8601 time',
    ],
    [
      ['explain', 'f.yaml', '--url', 'https://x.test/', '--client', '10.0.0.1', '--header', 'novalue'],
      '--header "novalue": expected "Name: value"',
    ],
    [['explain', 'f.yaml', '--url', 'https://x.test/', '--client', '10.0.0.1', '--bogus'], "Unknown option '--bogus'"],
  ])('usage error %j exits 2', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`safesquid policy explain: ${message}`);
  });
});
