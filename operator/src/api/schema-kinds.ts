/**
 * TypeBox builders for the schema shapes Kubernetes structural schemas need but TypeBox has no
 * plain kind for: string enums (`{type: string, enum}`, never `anyOf` of constants), string maps
 * (`additionalProperties` without `properties`) and int-or-string quantities. Each is a kind of its
 * own, registered once here, so `Value.Check`/`Value.Errors` validate them like built-in kinds while
 * the JSON stays what the CRD needs. Import schemas only through this module's users: the
 * registration must run before a check.
 */
import { Kind, Type, TypeRegistry, FormatRegistry, type SchemaOptions, type TSchema } from '@sinclair/typebox';

const ENUM = 'K8sStringEnum';
const MAP = 'K8sStringMap';
const INT_OR_STRING = 'K8sIntOrString';
const QUANTITY_MAP = 'K8sQuantityMap';
const OPEN_OBJECT = 'K8sOpenObject';

/** What a value of each registered kind must be, in words (TypeBox only says "Expected kind"). */
export const KIND_EXPECTATIONS: Record<string, string> = {
  [MAP]: 'must be a map of strings',
  [INT_OR_STRING]: 'must be an integer or a quantity such as 500m, 256Mi or 1Gi',
  [QUANTITY_MAP]: 'must map each resource to an integer or a quantity such as 500m, 256Mi or 1Gi',
  [OPEN_OBJECT]: 'must be an object',
};

if (!TypeRegistry.Has(ENUM)) {
  TypeRegistry.Set(
    ENUM,
    (schema: { enum: string[] }, value) => typeof value === 'string' && schema.enum.includes(value),
  );
}
if (!TypeRegistry.Has(MAP)) {
  TypeRegistry.Set(
    MAP,
    (_schema, value) =>
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every((v) => typeof v === 'string'),
  );
}
if (!TypeRegistry.Has(INT_OR_STRING)) {
  TypeRegistry.Set(
    INT_OR_STRING,
    (schema: { pattern?: string }, value) =>
      (typeof value === 'number' && Number.isInteger(value)) ||
      (typeof value === 'string' && (schema.pattern === undefined || new RegExp(schema.pattern).test(value))),
  );
}
if (!TypeRegistry.Has(QUANTITY_MAP)) {
  TypeRegistry.Set(
    QUANTITY_MAP,
    (_schema, value) =>
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every(
        (v) =>
          (typeof v === 'number' && Number.isInteger(v)) ||
          (typeof v === 'string' && new RegExp(QUANTITY_PATTERN).test(v)),
      ),
  );
}
if (!TypeRegistry.Has(OPEN_OBJECT)) {
  TypeRegistry.Set(
    OPEN_OBJECT,
    (_schema, value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  );
}
// RFC 3339 as metav1.Time writes it; TypeBox fails a string with an unknown format.
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value),
  );
}

/** `{type: string, enum: [...]}`, typed as the union of its values. */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, [Kind]: ENUM, type: 'string', enum: [...values] });
}

/** `{type: object, additionalProperties: {type: string}}`: labels, annotations, selectors. */
export function StringMap(options: SchemaOptions = {}) {
  return Type.Unsafe<Record<string, string>>({
    ...options,
    [Kind]: MAP,
    type: 'object',
    additionalProperties: { type: 'string' },
  });
}

/**
 * An object passed through to a Kubernetes type the API server validates where it is used (a pod's
 * `affinity`): `x-kubernetes-preserve-unknown-fields`, so the CRD keeps it whole.
 */
export function OpenObject<T = Record<string, unknown>>(options: SchemaOptions = {}) {
  return Type.Unsafe<T>({
    ...options,
    [Kind]: OPEN_OBJECT,
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
  });
}

/** A Kubernetes quantity (`500m`, `1Gi`, `2`): integer or string, as resource.Quantity accepts. */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
/** A map of quantities: corev1.ResourceList (`{cpu: 500m, memory: 1Gi}`). */
export function QuantityMap(options: SchemaOptions = {}) {
  const { [Kind]: _kind, ...value } = Quantity();
  return Type.Unsafe<Record<string, string | number>>({
    ...options,
    [Kind]: QUANTITY_MAP,
    type: 'object',
    additionalProperties: value,
  });
}

export function Quantity(options: SchemaOptions = {}) {
  return Type.Unsafe<string | number>({
    ...options,
    [Kind]: INT_OR_STRING,
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
  });
}

/** A CEL rule with the message a person reads when `kubectl apply` is refused. */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath-like field the error names, relative to the node the rule sits on. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Attaches `x-kubernetes-validations` to a schema (kept through TypeBox, copied into the CRD). */
export function withRules<T extends TSchema>(schema: T, rules: CelRule[]): T {
  return Object.assign(schema, { 'x-kubernetes-validations': rules });
}
