import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBlocks, checkDocs, checkLinks, formatDocIssue, runRunnable } from './docs-check.js';
import { parseClaim } from './explain-claims.js';
import { parseMarkdown, slug } from './markdown.js';

const repo = join(__dirname, '../../..');
const fence = '```';

const policy = (rules: string) => `${fence}yaml
apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata:
  name: p
spec:
  categories:
    - name: social
      domains: [.facebook.com]
  rules:
${rules}
  accessRestriction:
    defaultAction: allow
${fence}
`;
const denySocial = '    - name: no-social\n      action: deny\n      match:\n        categories: [social]';

describe('markdown', () => {
  it('finds fenced blocks with their info string, section and line', () => {
    const md = parseMarkdown(`# T\n\n## Part one\n\n${fence}sh runnable\ntrue\n${fence}\n\n[x](a.md#b) \`[not](a link)\`\n`);
    expect(md.blocks).toEqual([{ lang: 'sh', flags: ['runnable'], text: 'true\n', line: 5, section: 'Part one' }]);
    expect(md.links).toEqual([{ target: 'a.md#b', line: 9 }]);
    expect([...md.anchors]).toEqual(['t', 'part-one']);
  });

  it('makes anchors as GitHub does', () => {
    expect(slug('Block a category during work hours (for one group)')).toBe('block-a-category-during-work-hours-for-one-group');
    expect(slug('`make docs-check`: what runs')).toBe('make-docs-check-what-runs');
  });
});

describe('links', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'docs-check-'));
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs/b.md'), '# B\n\n## Second part\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts files and anchors that exist, refuses those that do not', () => {
    writeFileSync(
      join(dir, 'docs/a.md'),
      '# A\n[ok](b.md) [ok](b.md#second-part) [ok](#a) [web](https://example.com/x)\n[gone](c.md)\n[no anchor](b.md#third-part)\n[out](../../etc/passwd)\n',
    );
    const issues = checkLinks(dir, ['docs/a.md']).map(formatDocIssue);
    expect(issues).toEqual([
      'docs/a.md:3: link "c.md": no such file docs/c.md',
      'docs/a.md:4: link "b.md#third-part": docs/b.md has no heading with anchor #third-part',
      'docs/a.md:5: link "../../etc/passwd" leaves the repository',
    ]);
  });
});

describe('PolicySet, SafeSquidCluster and explain blocks', () => {
  it('checks claims against policy explain', () => {
    const text = `## S\n${policy(denySocial)}\n${fence}explain
https://www.facebook.com/ 10.0.0.1 -> deny no-social
https://example.com/ 10.0.0.1 -> allow default
www.facebook.com:443 10.0.0.1 -> allow default
example.com:8443 10.0.0.1 -> refused
${fence}\n`;
    expect(checkBlocks('x.md', text).map((i) => i.message)).toEqual([
      'www.facebook.com:443 10.0.0.1 -> allow default: claimed "allow default", policy explain says "deny no-social" (rule "no-social" of PolicySet "p" matched)',
    ]);
  });

  it('checks the request headers header rules set', () => {
    const text = `## S\n${fence}yaml
apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata:
  name: h
spec:
  headerRules:
    - name: yt
      match:
        domains: [.youtube.com]
      request:
        set:
          YouTube-Restrict: Strict
  accessRestriction:
    defaultAction: allow
${fence}\n${fence}explain
http://www.youtube.com/ 10.0.0.1 -> allow default sets YouTube-Restrict:Strict
http://www.youtube.com/ 10.0.0.1 -> allow default sets YouTube-Restrict:Moderate
http://example.com/ 10.0.0.1 -> allow default sets YouTube-Restrict:Strict
${fence}\n`;
    expect(checkBlocks('x.md', text).map((i) => i.message.replace(/^.* -> /, ''))).toEqual([
      'allow default sets YouTube-Restrict:Moderate: claimed the request header youtube-restrict: Moderate, policy explain sets youtube-restrict: Strict',
      'allow default sets YouTube-Restrict:Strict: claimed the request header youtube-restrict: Strict, policy explain sets no such header',
    ]);
  });

  it('reports an invalid PolicySet with the field, and an explain block it leaves without a policy', () => {
    const text = `## S\n${policy('    - name: Bad Name\n      action: block')}\n${fence}explain\nhttps://a.com/ 10.0.0.1 -> allow default\n${fence}\n`;
    const messages = checkBlocks('x.md', text).map((i) => i.message);
    expect(messages.some((m) => m.includes('rules[0].action'))).toBe(true);
    expect(messages.some((m) => m.includes('rules[0].name'))).toBe(true);
    expect(messages.at(-1)).toBe('explain block without a valid PolicySet block before it in section "S"');
  });

  it('validates SafeSquidCluster blocks against the operator schema', () => {
    const ssc = (spec: string) => `${fence}yaml\napiVersion: safesquid.io/v1alpha1\nkind: SafeSquidCluster\nmetadata:\n  name: c\nspec:\n${spec}\n${fence}\n`;
    expect(checkBlocks('x.md', ssc('  policySelector:\n    matchLabels: {app: web}\n  slaves:\n    minReplicas: 2'))).toEqual([]);
    const issues = checkBlocks('x.md', ssc('  policySelector: {}\n  slaves:\n    minReplicas: -1'));
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toMatch(/^SafeSquidCluster: spec\.slaves\.minReplicas: /);
  });

  it('says what is wrong with a claim line', () => {
    expect(() => parseClaim('https://a.com/ 10.0.0.1')).toThrow(/expected "URL CLIENT/);
    expect(() => parseClaim('https://a.com/ not-an-ip -> allow default')).toThrow(/client "not-an-ip" is not an IPv4 or IPv6 address/);
    expect(() => parseClaim('https://a.com/ 10.0.0.1 colour=red -> allow default')).toThrow(/unknown option "colour"/);
    expect(() => parseClaim('https://a.com/ 10.0.0.1 -> block x')).toThrow(/outcome "block x"/);
    expect(() => parseClaim('https://a.com/ 10.0.0.1 -> allow default sets NoColon')).toThrow(/only "reported RULE\[,RULE\]" and "sets Name:value"/);
    expect(parseClaim('a.com:8443 ::1 user=u group=a,b header=X-A:1 -> deny r reported s,t sets X-B:2')).toMatchObject({
      req: { method: 'CONNECT', host: 'a.com', port: 8443, path: '', user: 'u', groups: ['a', 'b'], headers: { 'x-a': '1' } },
      expect: { refused: false, action: 'deny', rule: 'r', reported: ['s', 't'], sets: { 'x-b': '2' } },
    });
  });
});

describe('runnable shell blocks', () => {
  it('runs only blocks marked runnable and reports a failing one with its output', () => {
    const text = `${fence}sh runnable\necho fine\n${fence}\n${fence}sh\nexit 3\n${fence}\n${fence}sh runnable\necho broken >&2; false\n${fence}\n`;
    const issues = runRunnable(repo, 'x.md', text);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 7 });
    expect(issues[0].message).toMatch(/exit 1[\s\S]*broken/);
  });
});

describe('the repository docs', () => {
  // Runnable blocks need the built CLI: `make docs-check` runs them.
  it('have no broken links, invalid PolicySets or SafeSquidClusters, or false claims', () => {
    expect(checkDocs(repo, { runnable: false }).map(formatDocIssue)).toEqual([]);
  });
});
