import { policySetSpecSchema } from './index.js';

type Node = Record<string, unknown>;

/** Every node of the schema with its path. */
function nodes(schema: Node, path = 'spec'): [string, Node][] {
  const out: [string, Node][] = [[path, schema]];
  for (const [key, child] of Object.entries((schema.properties as Record<string, Node>) ?? {}))
    out.push(...nodes(child, `${path}.${key}`));
  if (schema.items) out.push(...nodes(schema.items as Node, `${path}[]`));
  if (typeof schema.additionalProperties === 'object')
    out.push(...nodes(schema.additionalProperties as Node, `${path}{}`));
  return out;
}

describe('policySetSpecSchema', () => {
  // Plain JSON as the operator will put it in the CRD (TypeBox's symbol keys do not survive).
  const json = JSON.parse(JSON.stringify(policySetSpecSchema)) as Node;

  test('is a Kubernetes structural schema', () => {
    for (const [path, node] of nodes(json)) {
      expect([path, typeof node.type]).toEqual([path, 'string']);
      for (const forbidden of ['$ref', '$id', 'anyOf', 'oneOf', 'allOf', 'not', 'patternProperties', 'uniqueItems']) {
        expect([path, forbidden, node[forbidden]]).toEqual([path, forbidden, undefined]);
      }
      if (node.properties) expect([path, node.additionalProperties]).toEqual([path, undefined]);
    }
  });

  test('names the fields of the design', () => {
    const spec = json.properties as Record<string, Node>;
    expect(Object.keys(spec)).toEqual([
      'priority',
      'description',
      'categories',
      'userGroups',
      'timeProfiles',
      'rules',
      'headerRules',
      'accessRestriction',
    ]);
    const rule = (spec.rules.items as Node).properties as Record<string, Node>;
    expect(rule.action.enum).toEqual(['allow', 'deny', 'redirect']);
    expect(Object.keys((rule.match.properties as Node) ?? {})).toEqual([
      'sources',
      'users',
      'groups',
      'domains',
      'domainRegex',
      'categories',
      'urlRegex',
      'methods',
      'ports',
      'time',
      'requestHeaders',
      'responseMimeTypes',
    ]);
  });
});
