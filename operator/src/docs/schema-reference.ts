/**
 * Markdown field references from the JSON schemas the CRDs are built from (TypeBox output is plain
 * JSON Schema), so the reference cannot say anything the API server would not enforce.
 */

/** The subset of JSON Schema the API schemas use (structural: typed nodes, no `$ref`). */
export interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  anyOf?: SchemaNode[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
}

export interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  default?: unknown;
  constraints: string[];
  description: string;
}

export interface CrossFieldRule {
  path: string;
  rule: string;
  message: string;
}

function typeOf(node: SchemaNode): string {
  if (node['x-kubernetes-int-or-string']) return 'integer or string';
  if (node.type === 'array') return `array of ${node.items ? typeOf(node.items) : 'any'}`;
  if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object' && !node.properties) {
    return `map of string to ${typeOf(node.additionalProperties)}`;
  }
  if (node.type === 'object' && node['x-kubernetes-preserve-unknown-fields']) return 'object (kept whole)';
  return node.type ?? 'any';
}

function constraintsOf(node: SchemaNode): string[] {
  const c: string[] = [];
  if (node.enum) c.push(`one of ${node.enum.map((v) => `\`${String(v)}\``).join(', ')}`);
  if (node.minimum !== undefined && node.maximum !== undefined) c.push(`${node.minimum} to ${node.maximum}`);
  else if (node.minimum !== undefined) c.push(`≥ ${node.minimum}`);
  else if (node.maximum !== undefined) c.push(`≤ ${node.maximum}`);
  if (node.minLength !== undefined || node.maxLength !== undefined) c.push(`length ${node.minLength ?? 0}–${node.maxLength ?? '∞'}`);
  if (node.minItems !== undefined || node.maxItems !== undefined) c.push(`items ${node.minItems ?? 0}–${node.maxItems ?? '∞'}`);
  if (node.pattern) c.push(`pattern \`${node.pattern}\``);
  // Constraints on the elements of a list or map belong to the list's row too: they are where a reader looks.
  const inner = node.type === 'array' ? node.items : typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
  if (inner && inner.type !== 'object') c.push(...constraintsOf(inner).map((s) => `each: ${s}`));
  return c;
}

/** Every field under `root`, depth first in schema order, with `[]` for list items and `{name}` for map values. */
export function fieldRows(root: SchemaNode, prefix: string): { rows: FieldRow[]; rules: CrossFieldRule[] } {
  const rows: FieldRow[] = [];
  const rules: CrossFieldRule[] = [];
  const walk = (node: SchemaNode, path: string) => {
    for (const r of node['x-kubernetes-validations'] ?? []) rules.push({ path, rule: r.rule, message: r.message ?? '' });
    const objectOf = node.type === 'array' ? node.items : node;
    const suffix = node.type === 'array' ? '[]' : '';
    if (node.type === 'array' && node.items) for (const r of node.items['x-kubernetes-validations'] ?? []) rules.push({ path: `${path}[]`, rule: r.rule, message: r.message ?? '' });
    if (!objectOf?.properties) return;
    const required = new Set(objectOf.required ?? []);
    for (const [name, child] of Object.entries(objectOf.properties)) {
      const childPath = `${path}${suffix}.${name}`;
      rows.push({
        path: childPath,
        type: typeOf(child),
        required: required.has(name),
        default: child.default,
        constraints: constraintsOf(child),
        description: child.description ?? (child.type === 'array' ? (child.items?.description ?? '') : ''),
      });
      walk(child, childPath);
    }
  };
  walk(root, prefix);
  return { rows, rules };
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A Markdown table of `rows`, plus the cross-field rules when there are any. */
export function renderFieldTable(rows: FieldRow[], rules: CrossFieldRule[]): string {
  const out = ['| Field | Type | Required | Default | Allowed values | Description |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const def = r.default === undefined ? '' : `\`${JSON.stringify(r.default)}\``;
    out.push(`| \`${r.path}\` | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(def)} | ${cell(r.constraints.join('; '))} | ${cell(r.description)} |`);
  }
  if (rules.length) {
    out.push('', 'Rules across fields (CEL, checked by the API server):', '');
    for (const r of rules) out.push(`- \`${r.path}\`: ${r.message} (\`${r.rule}\`)`);
  }
  return out.join('\n') + '\n';
}
