/**
 * Checks a value against the plain JSON Schema subset `schema.ts` uses (objects, arrays, strings
 * with enum/pattern/length, integers with bounds) and reports every
 * mismatch with a path like `rules[3].match.ports[0]`. Written out rather than taken from a
 * generic validator so that messages name the field and the allowed values in words.
 */
type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
};

export interface SchemaIssue {
  path: string;
  message: string;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value)}`;
  return `${typeof value} ${String(value)}`;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

const patternCache = new Map<string, RegExp>();
function patternOf(source: string): RegExp {
  let re = patternCache.get(source);
  if (!re) patternCache.set(source, (re = new RegExp(source)));
  return re;
}

export function checkSchema(schema: object, value: unknown, path = ''): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  visit(schema as JsonSchema, value, path, issues);
  return issues;
}

function visit(schema: JsonSchema, value: unknown, path: string, issues: SchemaIssue[]): void {
  const fail = (message: string) => issues.push({ path, message });
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return void fail(`expected an object, got ${describe(value)}`);
      const record = value as Record<string, unknown>;
      for (const key of schema.required ?? []) {
        if (record[key] === undefined) issues.push({ path: joinPath(path, key), message: 'required field is missing' });
      }
      const known = schema.properties ?? {};
      for (const [key, child] of Object.entries(record)) {
        const childPath = joinPath(path, key);
        if (Object.hasOwn(known, key)) visit(known[key], child, childPath, issues);
        else if (typeof schema.additionalProperties === 'object')
          visit(schema.additionalProperties, child, childPath, issues);
        // An object with `properties` is closed unless it says otherwise (Kubernetes semantics: unknown fields are pruned).
        else if (schema.additionalProperties !== true) {
          issues.push({ path: childPath, message: `unknown field (allowed: ${Object.keys(known).join(', ')})` });
        }
      }
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) return void fail(`expected a list, got ${describe(value)}`);
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        fail(
          schema.minItems === 1
            ? 'must not be empty (omit the field instead)'
            : `needs at least ${schema.minItems} items`,
        );
      }
      if (schema.items) value.forEach((item, i) => visit(schema.items!, item, joinPath(path, i), issues));
      return;
    }
    case 'string': {
      if (typeof value !== 'string') return void fail(`expected a string, got ${describe(value)}`);
      if (schema.enum && !schema.enum.includes(value))
        return void fail(`must be one of ${schema.enum.join(', ')}; got ${describe(value)}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) return void fail('must not be empty');
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        return void fail(`is too long (${value.length} characters, at most ${schema.maxLength})`);
      }
      if (schema.pattern && !patternOf(schema.pattern).test(value))
        fail(`${describe(value)} does not match ${schema.pattern}`);
      return;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value))
        return void fail(`expected ${schema.type === 'integer' ? 'an integer' : 'a number'}, got ${describe(value)}`);
      if (schema.type === 'integer' && !Number.isInteger(value)) return void fail(`expected an integer, got ${value}`);
      if (schema.minimum !== undefined && value < schema.minimum)
        fail(`must be at least ${schema.minimum}; got ${value}`);
      if (schema.maximum !== undefined && value > schema.maximum)
        fail(`must be at most ${schema.maximum}; got ${value}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(`expected true or false, got ${describe(value)}`);
      return;
    default:
      throw new Error(`schema-check: unsupported schema type ${String(schema.type)} at ${path || 'the root'}`);
  }
}
