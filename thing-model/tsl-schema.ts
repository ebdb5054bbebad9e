/**
 * JSON Schema of a TSL export (docs/protocol/tsl.md), used by the loader for the structural check. Cross-field
 * rules (min ≤ max, step > 0, duplicate identifiers, numeric limits) are the semantic pass in `tsl-rules.ts`,
 * because JSON Schema cannot compare two strings as numbers. Every node an error can point at carries a
 * `description` in the "expected ..." form, which the loader prints as the problem's message.
 */

/** Decimal number strings as exports write them: "5", "-40", "0.01". JSON numbers are tolerated too. */
export const DECIMAL_RE = /^-?[0-9]+(\.[0-9]+)?$/;
/** Integer strings: "5", "-40". */
export const INTEGER_RE = /^-?[0-9]+$/;
/** `Identifier` or `{moduleId}:{identifier}`; letters, digits and `_` ([DOC] for the character set). */
export const IDENTIFIER_RE = /^([A-Za-z0-9_]+:)?[A-Za-z0-9_]+$/;

/** Implicit entries of real exports: service `set`/`get`, event `post` (optionally module-prefixed). */
export const IMPLICIT_SERVICE_RE = /^([A-Za-z0-9_]+:)?(set|get)$/;
export const IMPLICIT_EVENT_RE = /^([A-Za-z0-9_]+:)?post$/;

/** Platform limits (docs/protocol/tsl.md, "Data types"). */
export const TSL_LIMITS = Object.freeze({
  structMembers: 50,
  enumItems: 100,
  textLength: 10240,
  arraySize: 512,
  serviceParams: 100,
  eventParams: 100,
  featuresPerModule: 300,
});

const decimal = { type: ['string', 'number'], pattern: DECIMAL_RE.source, description: 'a decimal number string such as "5" or "0.1"' };
const integer = { type: ['string', 'number'], pattern: INTEGER_RE.source, description: 'an integer string such as "32"' };
const text = (what: string) => ({ type: 'string', description: what });
const identifier = {
  type: 'string',
  pattern: IDENTIFIER_RE.source,
  description: 'an identifier of letters, digits and "_" (optionally "{moduleId}:" first)',
};

type Scope = 'top' | 'member' | 'item';

const SCALARS = ['int', 'float', 'double', 'text', 'date', 'bool', 'enum'];
const TYPES_BY_SCOPE: Record<Scope, string[]> = {
  top: [...SCALARS, 'struct', 'array'],
  member: SCALARS,
  item: ['int', 'float', 'double', 'text', 'struct'],
};

function numericSpecs(scope: Scope): object {
  return {
    type: 'object',
    description: 'an object with "min", "max" and "step"',
    properties: { min: decimal, max: decimal, step: decimal, unit: text('a string'), unitName: text('a string') },
    ...(scope === 'item' ? {} : { required: ['min', 'max'] }),
  };
}

function whenType(t: string | string[], then: object): object {
  return {
    if: { type: 'object', properties: { type: Array.isArray(t) ? { enum: t } : { const: t } }, required: ['type'] },
    then,
  };
}

/** The schema of a `dataType` object in one of the three places a type can appear. */
function dataType(scope: Scope): object {
  const allowed = TYPES_BY_SCOPE[scope];
  const specsRequired = scope === 'item' ? {} : { required: ['type', 'specs'] };
  const member = { $ref: '#/definitions/member' };
  const branches: object[] = [
    whenType(['int', 'float', 'double'], { properties: { specs: numericSpecs(scope) } }),
    whenType('text', {
      properties: {
        specs: {
          type: 'object',
          description: 'an object with "length"',
          properties: { length: integer },
          ...(scope === 'item' ? {} : { required: ['length'] }),
        },
      },
    }),
    whenType('date', {
      properties: { specs: { type: ['object', 'array'], maxItems: 0, description: '{} (or [])' } },
    }),
    whenType('bool', {
      properties: {
        specs: {
          type: 'object',
          description: 'an object mapping "0" and "1" to labels',
          required: ['0', '1'],
          properties: { '0': text('a label string'), '1': text('a label string') },
          propertyNames: { enum: ['0', '1'], description: 'only the keys "0" and "1"' },
          additionalProperties: text('a label string'),
        },
      },
    }),
    whenType('enum', {
      properties: {
        specs: {
          type: 'object',
          description: 'an object mapping integer keys to labels',
          minProperties: 1,
          maxProperties: TSL_LIMITS.enumItems,
          propertyNames: { pattern: INTEGER_RE.source, description: 'an integer key such as "0"' },
          additionalProperties: text('a label string'),
        },
      },
    }),
    whenType('struct', {
      ...(scope === 'item' ? { required: ['specs'] } : {}),
      properties: {
        specs: {
          type: 'array',
          description: 'a list of {identifier, name, dataType} members',
          maxItems: TSL_LIMITS.structMembers,
          items: member,
        },
      },
    }),
  ];
  if (scope === 'top') {
    branches.push(
      whenType('array', {
        properties: {
          specs: {
            type: 'object',
            description: 'an object with "size" and "item"',
            required: ['size', 'item'],
            properties: { size: integer, item: { $ref: '#/definitions/itemType' } },
          },
        },
      }),
    );
  }
  return {
    type: 'object',
    description: 'a dataType object {type, specs}',
    ...specsRequired,
    properties: { type: { enum: allowed, description: `one of ${allowed.map((a) => `"${a}"`).join(', ')}` } },
    allOf: branches,
  };
}

function param(dt: string): object {
  return {
    type: 'object',
    description: 'an object {identifier, name, dataType}',
    required: ['identifier', 'name', 'dataType'],
    properties: { identifier, name: text('a name string'), desc: text('a string'), dataType: { $ref: `#/definitions/${dt}` } },
  };
}

const paramList = (max: number) => ({
  type: 'array',
  description: 'a list of {identifier, name, dataType}',
  maxItems: max,
  items: { $ref: '#/definitions/param' },
});

const implicitService = {
  type: 'object',
  description: 'a service object',
  if: { type: 'object', properties: { identifier: { pattern: IMPLICIT_SERVICE_RE.source } }, required: ['identifier'] },
  // Implicit set/get: only their outline is checked; the agent derives both from the properties.
  then: { type: 'object', properties: { inputData: { type: 'array' }, outputData: { type: 'array' } } },
  else: {
    type: 'object',
    description: 'a service object',
    required: ['identifier', 'name', 'callType', 'inputData', 'outputData'],
    properties: {
      identifier,
      name: text('a name string'),
      desc: text('a string'),
      required: { type: 'boolean', description: 'true or false' },
      callType: { enum: ['sync', 'async'], description: '"sync" or "async"' },
      method: text('a method string "thing.service.{identifier}"'),
      inputData: paramList(TSL_LIMITS.serviceParams),
      outputData: paramList(TSL_LIMITS.serviceParams),
    },
  },
};

const implicitEvent = {
  type: 'object',
  description: 'an event object',
  if: { type: 'object', properties: { identifier: { pattern: IMPLICIT_EVENT_RE.source } }, required: ['identifier'] },
  then: { type: 'object', properties: { outputData: { type: 'array' } } },
  else: {
    type: 'object',
    description: 'an event object',
    required: ['identifier', 'name', 'type', 'outputData'],
    properties: {
      identifier,
      name: text('a name string'),
      desc: text('a string'),
      required: { type: 'boolean', description: 'true or false' },
      type: { enum: ['info', 'alert', 'error'], description: '"info", "alert" or "error"' },
      method: text('a method string "thing.event.{identifier}.post"'),
      outputData: paramList(TSL_LIMITS.eventParams),
    },
  },
};

/** The whole TSL document. */
export const TSL_SCHEMA = {
  $id: 'alink-agent/tsl',
  type: 'object',
  description: 'a TSL object {profile, properties, services, events}',
  required: ['profile'],
  properties: {
    schema: text('a schema URL string'),
    profile: {
      type: 'object',
      description: 'an object {productKey, version?}',
      required: ['productKey'],
      properties: {
        productKey: { type: 'string', minLength: 1, description: 'a non-empty productKey string' },
        version: text('a version string'),
      },
    },
    properties: {
      type: 'array',
      description: 'a list of properties',
      items: {
        type: 'object',
        description: 'a property object',
        required: ['identifier', 'name', 'accessMode', 'dataType'],
        properties: {
          identifier,
          name: text('a name string'),
          desc: text('a string'),
          required: { type: 'boolean', description: 'true or false' },
          accessMode: { enum: ['r', 'rw'], description: '"r" or "rw"' },
          dataType: { $ref: '#/definitions/topType' },
        },
      },
    },
    services: { type: 'array', description: 'a list of services', items: implicitService },
    events: { type: 'array', description: 'a list of events', items: implicitEvent },
  },
  definitions: {
    topType: dataType('top'),
    memberType: dataType('member'),
    itemType: dataType('item'),
    param: param('topType'),
    member: param('memberType'),
  },
};
