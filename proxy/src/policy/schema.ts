/**
 * The PolicySet `spec`: the one source of truth for the policy language's shape. The operator
 * turns this schema into the CRD's openAPIV3Schema, so it stays plain JSON Schema that
 * Kubernetes structural schemas accept: every node has a `type`; string enums, not `anyOf` of
 * constants; maps as `additionalProperties: {schema}` without `properties`; no `$ref`, no
 * `patternProperties`, and no `additionalProperties: false` beside `properties` (Kubernetes
 * forbids it and prunes unknown fields instead). Objects with `properties` are closed anyway:
 * `schema-check.ts` reports unknown fields, as `kubectl --validate=strict` would.
 * Checks that need more than a schema (references, CIDRs, regexes, time zones) live in `validate.ts`.
 */
import { Type, type Static, type TSchema, type SchemaOptions } from '@sinclair/typebox';

/** A string enum as `{type: string, enum: [...]}`, typed as the union of its values. */
function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/** A string → string map as `{type: object, additionalProperties: {type: string}}`. */
function StringMap(options: SchemaOptions = {}) {
  return Type.Unsafe<Record<string, string>>({ ...options, type: 'object', additionalProperties: { type: 'string' } });
}

/** An object with known fields only (closed by `schema-check.ts`, pruned by Kubernetes). */
function Strict<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: SchemaOptions = {}) {
  return Type.Object(properties, options);
}

function List<T extends TSchema>(items: T, options: SchemaOptions = {}) {
  return Type.Array(items, options);
}

export const ACTIONS = ['allow', 'deny', 'redirect'] as const;
export const MODES = ['enforce', 'report'] as const;
export const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

const NAME_PATTERN = '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$';
const Name = (what: string) =>
  Type.String({
    minLength: 1,
    maxLength: 253,
    pattern: NAME_PATTERN,
    description: `Name of the ${what}: lower-case letters, digits, '-', '_' and '.'.`,
  });
const RefList = (what: string) =>
  List(Type.String({ minLength: 1, maxLength: 253 }), {
    minItems: 1,
    description: `Names of ${what}; matches if any of them does.`,
  });

const DomainPatterns = (description: string, minItems = 1) =>
  List(Type.String({ minLength: 1, maxLength: 260 }), { minItems, description });

const DOMAIN_HELP =
  '`example.com` matches that host only; `*.example.com` matches its subdomains, not the apex; ' +
  '`.example.com` matches the apex and its subdomains. Case, a trailing dot and IDN (Unicode or punycode) are normalised.';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Clock = (what: string) =>
  Type.String({
    pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$',
    description: `${what} as HH:MM (24-hour clock, in the profile's time zone).`,
  });
const Regex = (what: string) =>
  Type.String({
    minLength: 1,
    maxLength: 4096,
    description: `${what} (RE2 syntax: linear-time, no lookaround or backreferences).`,
  });

const HeaderCondition = Strict({
  name: Type.String({
    minLength: 1,
    maxLength: 256,
    pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
    description: 'Header name (case-insensitive).',
  }),
  regex: Regex('Matched against the header value; several values are joined with ", "'),
});

/** Request-time conditions, shared by `rules` and `headerRules`. */
const requestConditions = {
  sources: Type.Optional(
    List(Type.String({ minLength: 1, maxLength: 64 }), {
      minItems: 1,
      description: 'Client source addresses or CIDRs (IPv4 or IPv6).',
    }),
  ),
  users: Type.Optional(
    List(Type.String({ minLength: 1, maxLength: 256 }), {
      minItems: 1,
      description: 'Authenticated proxy user names.',
    }),
  ),
  groups: Type.Optional(RefList('userGroups (or groups the authenticator reports under the same name)')),
  domains: Type.Optional(DomainPatterns(`Destination host patterns. ${DOMAIN_HELP}`)),
  domainRegex: Type.Optional(Regex('Matched against the normalised (lower-case, punycode) destination host')),
  categories: Type.Optional(RefList('categories the destination host must belong to')),
  urlRegex: Type.Optional(Regex('Matched against the path and query (`/a/b?c`); empty for CONNECT')),
  methods: Type.Optional(
    List(Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z]+$' }), {
      minItems: 1,
      description: 'HTTP methods (CONNECT for tunnels); case-insensitive.',
    }),
  ),
  ports: Type.Optional(List(Port, { minItems: 1, description: 'Destination ports.' })),
  time: Type.Optional(
    Type.String({ minLength: 1, maxLength: 253, description: 'Name of a timeProfile that must be active.' }),
  ),
  requestHeaders: Type.Optional(
    List(HeaderCondition, { minItems: 1, description: 'Every listed header must be present and match.' }),
  ),
};

const RuleMatch = Strict(
  {
    ...requestConditions,
    responseMimeTypes: Type.Optional(
      List(Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9.+_]*/(\\*|[A-Za-z0-9][-A-Za-z0-9.+_]*)$' }), {
        minItems: 1,
        description: 'Response Content-Type (`type/subtype` or `type/*`); decided once the response headers arrive.',
      }),
    ),
  },
  { description: 'Every given condition must hold; an empty match matches every request.' },
);

const HeaderMatch = Strict(requestConditions, {
  description: 'Every given condition must hold; an empty match matches every request.',
});

const HeaderEdit = Strict({
  set: Type.Optional(StringMap({ description: 'Headers to set, replacing any existing value.' })),
  add: Type.Optional(StringMap({ description: 'Headers to append (kept beside existing values).' })),
  remove: Type.Optional(List(Type.String({ minLength: 1, maxLength: 256 }), { description: 'Headers to remove.' })),
});

export const ruleSchema = Strict({
  name: Name('rule, unique within the PolicySet'),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
  action: StringEnum(ACTIONS, { description: 'What happens when the rule matches.' }),
  mode: Type.Optional(
    StringEnum(MODES, {
      default: 'enforce',
      description: '`report` records what the rule would have done and lets evaluation continue.',
    }),
  ),
  message: Type.Optional(Type.String({ maxLength: 1024, description: 'Shown on the block page for `deny`.' })),
  redirectTo: Type.Optional(
    Type.String({ maxLength: 2048, description: 'Absolute http(s) URL; required for `redirect`.' }),
  ),
  match: Type.Optional(RuleMatch),
});

export const headerRuleSchema = Strict({
  name: Name('header rule, unique within the PolicySet'),
  match: Type.Optional(HeaderMatch),
  request: Type.Optional(HeaderEdit),
  response: Type.Optional(HeaderEdit),
});

export const policySetSpecSchema = Strict(
  {
    priority: Type.Optional(
      Type.Integer({
        minimum: -1000000,
        maximum: 1000000,
        default: 100,
        description: 'Lower first; ties by PolicySet name.',
      }),
    ),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    categories: Type.Optional(
      List(
        Strict({
          name: Name('category, unique in the bundle'),
          description: Type.Optional(Type.String({ maxLength: 1024 })),
          domains: DomainPatterns(`Hosts in the category. ${DOMAIN_HELP}`, 0),
        }),
      ),
    ),
    userGroups: Type.Optional(
      List(
        Strict({
          name: Name('user group, unique in the bundle'),
          users: Type.Optional(
            List(Type.String({ minLength: 1, maxLength: 256 }), {
              description: 'Members. Users whose authenticator reports a group of this name are members too.',
            }),
          ),
        }),
      ),
    ),
    timeProfiles: Type.Optional(
      List(
        Strict({
          name: Name('time profile, unique in the bundle'),
          days: Type.Optional(
            List(StringEnum(DAYS), { minItems: 1, description: 'Days the window opens on; every day when omitted.' }),
          ),
          from: Type.Optional(Clock('Start (inclusive), default 00:00')),
          to: Type.Optional(Clock('End (exclusive), default 24:00; before `from` means the window crosses midnight')),
          timeZone: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 64,
              default: 'UTC',
              description: 'IANA time zone, e.g. Asia/Kolkata.',
            }),
          ),
        }),
      ),
    ),
    rules: Type.Optional(
      List(ruleSchema, { description: 'Ordered; the first matching rule in enforce mode decides.' }),
    ),
    headerRules: Type.Optional(List(headerRuleSchema, { description: 'Ordered; every matching header rule applies.' })),
    accessRestriction: Type.Optional(
      Strict(
        {
          defaultAction: Type.Optional(
            StringEnum(['allow', 'deny'] as const, { default: 'deny', description: 'When no rule matches.' }),
          ),
          allowedClients: Type.Optional(
            List(Type.String({ minLength: 1, maxLength: 64 }), {
              description:
                'Client CIDRs that may use the proxy; empty or absent: loopback and private ranges only. Everyone: [0.0.0.0/0, "::/0"].',
            }),
          ),
          connectPorts: Type.Optional(List(Port, { description: 'Ports CONNECT may reach; default [443].' })),
          httpTunnelPorts: Type.Optional(
            List(Port, {
              description:
                'Ports whose CONNECT tunnels carry plain HTTP (default [80]): the slave reads the requests inside such a tunnel and applies the full policy to each. Only ports also in connectPorts are reachable.',
            }),
          ),
          ssrf: Type.Optional(
            Strict({
              allowRanges: Type.Optional(
                List(Type.String({ minLength: 1, maxLength: 64 }), {
                  description: 'Ranges opened despite the SSRF guard.',
                }),
              ),
            }),
          ),
        },
        { description: 'Cluster-wide; the lowest-priority PolicySet that sets it wins.' },
      ),
    ),
  },
  { description: 'A PolicySet: ordered rules and the named lists they refer to.' },
);

export type PolicySetSpec = Static<typeof policySetSpecSchema>;
export type RuleSpec = Static<typeof ruleSchema>;
export type HeaderRuleSpec = Static<typeof headerRuleSchema>;
export type RuleMatchSpec = NonNullable<RuleSpec['match']>;
export type HeaderEditSpec = NonNullable<HeaderRuleSpec['request']>;
export type Day = (typeof DAYS)[number];
