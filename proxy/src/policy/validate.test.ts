import { compilePolicyBundle, PolicyValidationError, validatePolicySets, type PolicySetSource } from './index.js';

const lists = {
  categories: [{ name: 'social', domains: ['facebook.com'] }],
  userGroups: [{ name: 'staff', users: ['alice'] }],
  timeProfiles: [{ name: 'work', from: '09:00', to: '17:00' }],
};

function issuesOf(spec: unknown, name = 'corp'): string[] {
  return validatePolicySets([{ name, spec: spec as never }]).map((i) => `${i.path}: ${i.message}`);
}

describe('validatePolicySets', () => {
  test('a complete, valid PolicySet has no issues', () => {
    expect(
      issuesOf({
        ...lists,
        priority: 5,
        rules: [
          {
            name: 'r',
            action: 'deny',
            mode: 'report',
            message: 'no',
            match: {
              sources: ['10.0.0.0/8', '::1'],
              users: ['alice'],
              groups: ['staff'],
              domains: ['a.test', '*.b.test', '.c.test', 'bücher.example', '192.0.2.1', '2001:db8::1'],
              domainRegex: '^ads\\.',
              categories: ['social'],
              urlRegex: '(?i)^/x',
              methods: ['get', 'CONNECT'],
              ports: [1, 65535],
              time: 'work',
              requestHeaders: [{ name: 'User-Agent', regex: 'curl' }],
              responseMimeTypes: ['text/html', 'video/*', 'application/vnd.ms-excel+xml'],
            },
          },
          { name: 'r2', action: 'redirect', redirectTo: 'http://intranet.example/x' },
        ],
        headerRules: [{ name: 'h', request: { set: { A: 'b' }, add: { C: 'd' }, remove: ['E'] } }],
        accessRestriction: {
          defaultAction: 'allow',
          allowedClients: ['10.0.0.0/8'],
          connectPorts: [443],
          ssrf: { allowRanges: ['fd00::/8'] },
        },
      }),
    ).toEqual([]);
  });

  type Row = [string, unknown, string];
  const rows: Row[] = [
    ['spec not an object', 'text', ': expected an object, got string "text"'],
    ['unknown top-level field', { rulez: [] }, 'rulez: unknown field (allowed: priority, description, categories'],
    ['unknown rule field', { rules: [{ name: 'r', action: 'allow', acton: 'x' }] }, 'rules[0].acton: unknown field'],
    [
      'unknown match field',
      { rules: [{ name: 'r', action: 'allow', match: { domian: ['a'] } }] },
      'rules[0].match.domian: unknown field',
    ],
    ['missing rule name', { rules: [{ action: 'allow' }] }, 'rules[0].name: required field is missing'],
    ['missing action', { rules: [{ name: 'r' }] }, 'rules[0].action: required field is missing'],
    [
      'bad action',
      { rules: [{ name: 'r', action: 'block' }] },
      'rules[0].action: must be one of allow, deny, redirect; got string "block"',
    ],
    [
      'bad mode',
      { rules: [{ name: 'r', action: 'allow', mode: 'dry' }] },
      'rules[0].mode: must be one of enforce, report',
    ],
    [
      'bad rule name',
      { rules: [{ name: 'Bad Name', action: 'allow' }] },
      'rules[0].name: string "Bad Name" does not match',
    ],
    ['priority wrong type', { priority: 'high' }, 'priority: expected an integer, got string "high"'],
    ['priority not an integer', { priority: 1.5 }, 'priority: expected an integer, got 1.5'],
    ['priority out of range', { priority: 1e9 }, 'priority: must be at most 1000000'],
    ['rules not a list', { rules: { name: 'r' } }, 'rules: expected a list, got an object'],
    [
      'empty condition list',
      { rules: [{ name: 'r', action: 'allow', match: { domains: [] } }] },
      'rules[0].match.domains: must not be empty',
    ],
    [
      'port out of range',
      { rules: [{ name: 'r', action: 'allow', match: { ports: [0, 70000] } }] },
      'rules[0].match.ports[0]: must be at least 1',
    ],
    [
      'port out of range (high)',
      { rules: [{ name: 'r', action: 'allow', match: { ports: [70000] } }] },
      'rules[0].match.ports[0]: must be at most 65535',
    ],
    [
      'bad method',
      { rules: [{ name: 'r', action: 'allow', match: { methods: ['GE T'] } }] },
      'rules[0].match.methods[0]: string "GE T" does not match',
    ],
    [
      'bad header name',
      { rules: [{ name: 'r', action: 'allow', match: { requestHeaders: [{ name: 'A B', regex: 'x' }] } }] },
      'rules[0].match.requestHeaders[0].name',
    ],
    [
      'bad MIME type',
      { rules: [{ name: 'r', action: 'allow', match: { responseMimeTypes: ['html'] } }] },
      'rules[0].match.responseMimeTypes[0]: string "html" does not match',
    ],
    [
      'duplicate rule name',
      {
        rules: [
          { name: 'r', action: 'allow' },
          { name: 'r', action: 'deny' },
        ],
      },
      'rules[1].name: duplicate rule name "r" (first used by rules[0]) (rule "r")',
    ],
    [
      'duplicate header rule name',
      {
        headerRules: [
          { name: 'h', request: {} },
          { name: 'h', request: {} },
        ],
      },
      'headerRules[1].name: duplicate header rule name "h"',
    ],
    [
      'header rule without edits',
      { headerRules: [{ name: 'h' }] },
      'headerRules[0].request: a header rule needs request or response edits (rule "h")',
    ],
    [
      'header rule with responseMimeTypes',
      { headerRules: [{ name: 'h', request: {}, match: { responseMimeTypes: ['text/html'] } }] },
      'headerRules[0].match.responseMimeTypes: unknown field',
    ],
    [
      'header map value not a string',
      { headerRules: [{ name: 'h', request: { set: { A: 1 } } }] },
      'headerRules[0].request.set.A: expected a string, got number 1',
    ],
    [
      'redirect without redirectTo',
      { rules: [{ name: 'r', action: 'redirect' }] },
      'rules[0].redirectTo: required when action is redirect (rule "r")',
    ],
    [
      'redirectTo on deny',
      { rules: [{ name: 'r', action: 'deny', redirectTo: 'https://x.test/' }] },
      'rules[0].redirectTo: only valid with action redirect (action is deny) (rule "r")',
    ],
    [
      'redirectTo not a URL',
      { rules: [{ name: 'r', action: 'redirect', redirectTo: '/blocked' }] },
      'rules[0].redirectTo: "/blocked" is not an absolute http(s) URL',
    ],
    [
      'redirectTo not http',
      { rules: [{ name: 'r', action: 'redirect', redirectTo: 'ftp://x.test/' }] },
      'is not an absolute http(s) URL',
    ],
    [
      'unknown category',
      { rules: [{ name: 'r', action: 'deny', match: { categories: ['gambling'] } }] },
      'rules[0].match.categories[0]: unknown category "gambling" (none are defined) (rule "r")',
    ],
    [
      'unknown category lists the known ones',
      { ...lists, rules: [{ name: 'r', action: 'deny', match: { categories: ['x'] } }] },
      'unknown category "x" (defined: social)',
    ],
    [
      'unknown group',
      { rules: [{ name: 'r', action: 'deny', match: { groups: ['admins'] } }] },
      'rules[0].match.groups[0]: unknown user group "admins"',
    ],
    [
      'unknown time profile',
      { rules: [{ name: 'r', action: 'deny', match: { time: 'lunch' } }] },
      'rules[0].match.time: unknown time profile "lunch"',
    ],
    [
      'dangling reference in a header rule',
      { headerRules: [{ name: 'h', request: {}, match: { categories: ['x'] } }] },
      'headerRules[0].match.categories[0]: unknown category "x"',
    ],
    [
      'bad source CIDR',
      { rules: [{ name: 'r', action: 'deny', match: { sources: ['10.0.0.0/33'] } }] },
      'rules[0].match.sources[0]: invalid CIDR "10.0.0.0/33": prefix length must be an integer from 0 to 32 (rule "r")',
    ],
    [
      'source not an IP',
      { rules: [{ name: 'r', action: 'deny', match: { sources: ['lan'] } }] },
      'invalid CIDR "lan": "lan" is not an IPv4 or IPv6 address',
    ],
    [
      'bad allowedClients',
      { accessRestriction: { allowedClients: ['10.0.0.1/8', 'x'] } },
      'accessRestriction.allowedClients[1]: invalid CIDR "x"',
    ],
    [
      'bad ssrf range',
      { accessRestriction: { ssrf: { allowRanges: ['::/200'] } } },
      'accessRestriction.ssrf.allowRanges[0]: invalid CIDR "::/200"',
    ],
    [
      'bad defaultAction',
      { accessRestriction: { defaultAction: 'redirect' } },
      'accessRestriction.defaultAction: must be one of allow, deny',
    ],
    [
      'bad connect port',
      { accessRestriction: { connectPorts: ['443'] } },
      'accessRestriction.connectPorts[0]: expected an integer, got string "443"',
    ],
    ['unknown access restriction field', { accessRestriction: { auth: {} } }, 'accessRestriction.auth: unknown field'],
    [
      'bad url regex',
      { rules: [{ name: 'r', action: 'deny', match: { urlRegex: '(unclosed' } }] },
      'rules[0].match.urlRegex: invalid regular expression "(unclosed": ',
    ],
    [
      'lookahead is not RE2',
      { rules: [{ name: 'r', action: 'deny', match: { urlRegex: '^(?=a)' } }] },
      'rules[0].match.urlRegex: invalid regular expression "^(?=a)"',
    ],
    [
      'backreference is not RE2',
      { rules: [{ name: 'r', action: 'deny', match: { domainRegex: '(a)\\1' } }] },
      'rules[0].match.domainRegex: invalid regular expression',
    ],
    [
      'bad header regex',
      { rules: [{ name: 'r', action: 'deny', match: { requestHeaders: [{ name: 'A', regex: '[' }] } }] },
      'rules[0].match.requestHeaders[0].regex: invalid regular expression "["',
    ],
    [
      'bad domain',
      { rules: [{ name: 'r', action: 'deny', match: { domains: ['exa mple.com'] } }] },
      'rules[0].match.domains[0]: "exa mple.com" is not a valid domain name',
    ],
    [
      'wildcard in the middle',
      { rules: [{ name: 'r', action: 'deny', match: { domains: ['a.*.com'] } }] },
      'a wildcard is only allowed as a leading "*."',
    ],
    [
      'bare wildcard',
      { rules: [{ name: 'r', action: 'deny', match: { domains: ['*'] } }] },
      'rules[0].match.domains[0]: "*": a wildcard is only allowed as a leading "*."',
    ],
    [
      'bad category domain',
      { categories: [{ name: 'c', domains: ['ok.test', 'bad_label-.test', '-x.test'] }] },
      'categories[0].domains[2]: "-x.test" is not a valid domain name',
    ],
    ['category without domains', { categories: [{ name: 'c' }] }, 'categories[0].domains: required field is missing'],
    [
      'duplicate category',
      {
        categories: [
          { name: 'c', domains: [] },
          { name: 'c', domains: [] },
        ],
      },
      'categories[1].name: category "c" is already defined (names are unique across the bundle)',
    ],
    [
      'duplicate group',
      { userGroups: [{ name: 'g' }, { name: 'g' }] },
      'userGroups[1].name: user group "g" is already defined',
    ],
    [
      'duplicate time profile',
      { timeProfiles: [{ name: 't' }, { name: 't' }] },
      'timeProfiles[1].name: time profile "t" is already defined',
    ],
    [
      'bad time zone',
      { timeProfiles: [{ name: 't', timeZone: 'Mars/Olympus' }] },
      'timeProfiles[0].timeZone: unknown time zone "Mars/Olympus"',
    ],
    [
      'bad HH:MM',
      { timeProfiles: [{ name: 't', from: '9:00' }] },
      'timeProfiles[0].from: string "9:00" does not match',
    ],
    [
      'hour 24 with minutes',
      { timeProfiles: [{ name: 't', to: '24:30' }] },
      'timeProfiles[0].to: string "24:30" does not match',
    ],
    [
      '24:00 as from',
      { timeProfiles: [{ name: 't', from: '24:00' }] },
      'timeProfiles[0].from: "24:00" is only valid as `to`',
    ],
    [
      'empty window',
      { timeProfiles: [{ name: 't', from: '10:00', to: '10:00' }] },
      'timeProfiles[0].to: window 10:00-10:00 is empty',
    ],
    [
      'bad day',
      { timeProfiles: [{ name: 't', days: ['Monday'] }] },
      'timeProfiles[0].days[0]: must be one of Mon, Tue, Wed, Thu, Fri, Sat, Sun; got string "Monday"',
    ],
    [
      'user group users not strings',
      { userGroups: [{ name: 'g', users: [1] }] },
      'userGroups[0].users[0]: expected a string, got number 1',
    ],
  ];

  test.each(rows)('%s', (_name, spec, expected) => {
    const issues = issuesOf(spec);
    expect(issues).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
  });

  test('every issue is reported at once, with the PolicySet name', () => {
    const issues = validatePolicySets([
      {
        name: 'one',
        spec: { rules: [{ name: 'r', action: 'redirect', match: { categories: ['x'], sources: ['y'] } }] } as never,
      },
    ]);
    expect(issues).toEqual([
      { policySet: 'one', path: 'rules[0].redirectTo', message: 'required when action is redirect (rule "r")' },
      {
        policySet: 'one',
        path: 'rules[0].match.sources[0]',
        message: 'invalid CIDR "y": "y" is not an IPv4 or IPv6 address (rule "r")',
      },
      {
        policySet: 'one',
        path: 'rules[0].match.categories[0]',
        message: 'unknown category "x" (none are defined) (rule "r")',
      },
    ]);
  });

  test('names across PolicySets: duplicate sets, duplicate categories, bad set names', () => {
    const sets: PolicySetSource[] = [
      { name: 'a', spec: { categories: [{ name: 'c', domains: [] }] } },
      { name: 'b', spec: { categories: [{ name: 'c', domains: [] }] } },
      { name: 'a', spec: {} },
      { name: 'Not_Valid', spec: {} },
    ];
    expect(validatePolicySets(sets).map((i) => `${i.policySet}: ${i.path}: ${i.message}`)).toEqual([
      'b: categories[0].name: category "c" is already defined by PolicySet "a" (names are unique across the bundle)',
      'a: : duplicate PolicySet name "a"',
      `Not_Valid: : PolicySet name "Not_Valid" must be a DNS subdomain name (lower-case letters, digits, '-' and '.')`,
    ]);
  });

  test('compilePolicyBundle throws PolicyValidationError listing every issue, one per line', () => {
    let error: unknown;
    try {
      compilePolicyBundle([
        {
          name: 'corp',
          spec: { rules: [{ name: 'r', action: 'deny', match: { urlRegex: '(' } }], priority: 'x' } as never,
        },
      ]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyValidationError);
    const e = error as PolicyValidationError;
    expect(e.issues).toHaveLength(2);
    expect(e.message.split('\n')).toEqual([
      'policy is invalid (2 issues):',
      'corp: priority: expected an integer, got string "x"',
      expect.stringMatching(/^corp: rules\[0\]\.match\.urlRegex: invalid regular expression "\(": .* \(rule "r"\)$/),
    ]);
  });
});
