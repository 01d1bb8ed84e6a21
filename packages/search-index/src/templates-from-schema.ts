// Elasticsearch mappings derived from the JSON Schemas of the records they hold (schemas/incident.v1.json,
// problem.v1.json): every schema field gets a mapping of its type, so a field added to a schema is mapped
// without a second list to keep. Only the choices a schema cannot make are written here: which strings are
// searched as text, which integers need 64 bits, and the fields the indexer derives at index time.
import type { estypes } from '@elastic/elasticsearch'
import alertSchema from '../../../schemas/alert.v1.json' with { type: 'json' }
import commandSchema from '../../../schemas/command.v1.json' with { type: 'json' }
import incidentSchema from '../../../schemas/incident.v1.json' with { type: 'json' }
import problemSchema from '../../../schemas/problem.v1.json' with { type: 'json' }

/** A JSON Schema node, as far as a mapping needs it. */
export interface SchemaNode {
  $ref?: string
  type?: string | string[]
  format?: string
  pattern?: string
  enum?: unknown[]
  const?: unknown
  anyOf?: SchemaNode[]
  items?: SchemaNode
  properties?: Record<string, SchemaNode>
  description?: string
}

/** The schemas a record schema's `$ref`s can name, by file name (`alert.v1.json#/definitions/...`). */
const schemaFiles: Record<string, unknown> = {
  'alert.v1.json': alertSchema,
  'command.v1.json': commandSchema,
  'incident.v1.json': incidentSchema,
  'problem.v1.json': problemSchema,
}

export const recordSchemas = { incident: incidentSchema as SchemaNode, problem: problemSchema as SchemaNode }

/** Follows `$ref`s (within a file or to a sibling file of schemas/) until the node is a schema of its own. */
export function resolve(node: SchemaNode, file: string): { node: SchemaNode; file: string } {
  while (node.$ref !== undefined) {
    const [target = '', pointer = ''] = node.$ref.split('#')
    const nextFile = target === '' ? file : target
    let at: unknown = schemaFiles[nextFile]
    if (at === undefined) throw new Error(`${file}: $ref ${node.$ref} names a schema the mappings do not know`)
    for (const part of pointer.split('/').filter(Boolean)) at = (at as Record<string, unknown>)[part]
    if (at === undefined) throw new Error(`${file}: $ref ${node.$ref} points at nothing`)
    node = at as SchemaNode
    file = nextFile
  }
  return { node, file }
}

/** What a field holds, as far as Elasticsearch cares: a nullable field maps as its non-null branch. */
export type FieldKind = 'date' | 'keyword' | 'string' | 'integer' | 'boolean' | 'object'

/** One schema field: its dotted path (array items share their array's path, as in Elasticsearch) and kind. */
export interface SchemaField {
  path: string
  kind: FieldKind
  /** Set for objects: the fields inside. */
  fields?: SchemaField[]
}

/** The kind of one schema node: `keyword` for closed sets (enums, consts), `string` for any other string. */
function kindOf(node: SchemaNode, file: string, path: string): { kind: FieldKind; node: SchemaNode; file: string } {
  const r = resolve(node, file)
  node = r.node
  file = r.file
  if (node.anyOf) {
    const branches = node.anyOf.filter((b) => resolve(b, file).node.type !== 'null')
    if (branches.length !== 1) throw new Error(`${path}: a mapping needs one type, anyOf offers ${branches.length}`)
    return kindOf(branches[0]!, file, path)
  }
  if (node.enum || node.const !== undefined) {
    const values = node.enum ?? [node.const]
    if (!values.every((v) => typeof v === 'string' || v === null)) throw new Error(`${path}: only string enums map to keyword`)
    return { kind: 'keyword', node, file }
  }
  const types = (Array.isArray(node.type) ? node.type : [node.type]).filter((t) => t !== 'null')
  if (types.length !== 1) throw new Error(`${path}: a mapping needs one type, the schema gives ${JSON.stringify(node.type)}`)
  const type = types[0]
  if (type === 'array') {
    if (!node.items) throw new Error(`${path}: an array needs items`)
    return kindOf(node.items, file, path)
  }
  if (type === 'string') return { kind: node.format === 'date-time' ? 'date' : 'string', node, file }
  if (type === 'integer' || type === 'boolean' || type === 'object') return { kind: type, node, file }
  throw new Error(`${path}: no mapping for type ${String(type)}`)
}

/** The fields of an object schema, recursively. */
export function schemaFields(schema: SchemaNode, file: string, prefix = ''): SchemaField[] {
  const { node, file: at } = resolve(schema, file)
  return Object.entries(node.properties ?? {}).map(([name, child]) => {
    const path = `${prefix}${name}`
    const k = kindOf(child, at, path)
    return k.kind === 'object' ? { path, kind: k.kind, fields: schemaFields(k.node, k.file, `${path}.`) } : { path, kind: k.kind }
  })
}

/** The choices a schema cannot make, by dotted field path. */
export interface MappingChoices {
  /** Free text searched by words; `textWithKeyword` also sorts and aggregates. Any other string is a keyword. */
  text?: Record<string, 'text' | 'textWithKeyword'>
  /** Integers that can pass 2^31 (versions). Any other integer is an `integer`. */
  long?: readonly string[]
  /** Fields the indexer adds at index time, not in the schema. */
  indexOnly?: Record<string, estypes.MappingProperty>
}

/**
 * The longest keyword value indexed, in characters. Lucene refuses a term of over 32,766 bytes, and with it
 * the whole document: a problem's signature (the JSON of up to 32 alert names) or an incident's group key
 * (several label values) can pass that, and the document would be dead-lettered, every version of it. A
 * longer value is kept in the document and only left out of the index. 8,191 characters of up to 4 bytes
 * each always fit.
 */
export const KEYWORD_MAX_CHARS = 8191

const byKind: Record<Exclude<FieldKind, 'object' | 'string'>, estypes.MappingProperty> = {
  date: { type: 'date' },
  keyword: { type: 'keyword', ignore_above: KEYWORD_MAX_CHARS },
  integer: { type: 'integer' },
  boolean: { type: 'boolean' },
}
export const textMapping = { text: { type: 'text' }, textWithKeyword: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 512 } } } } as const

/**
 * The strict mapping of a record schema. Throws when a choice names a field the schema does not have or
 * cannot hold (a text choice on a date, a long on a string): a choice never outlives its field silently.
 */
export function mappingFromSchema(schema: SchemaNode, file: string, choices: MappingChoices = {}): estypes.MappingTypeMapping {
  const used = new Set<string>()
  const map = (fields: SchemaField[]): Record<string, estypes.MappingProperty> => Object.fromEntries(fields.map((f) => {
    const name = f.path.slice(f.path.lastIndexOf('.') + 1)
    const text = choices.text?.[f.path]
    const long = choices.long?.includes(f.path)
    if (text) used.add(f.path)
    if (long) used.add(f.path)
    if (text && f.kind !== 'string') throw new Error(`${file}: ${f.path} is ${f.kind}, not free text`)
    if (long && f.kind !== 'integer') throw new Error(`${file}: ${f.path} is ${f.kind}, not an integer`)
    if (f.kind === 'object') return [name, { properties: map(f.fields ?? []) }]
    if (f.kind === 'string') return [name, text ? textMapping[text] : byKind.keyword]
    return [name, long ? { type: 'long' } : byKind[f.kind]]
  }))
  const properties = map(schemaFields(schema, file))
  for (const path of [...Object.keys(choices.text ?? {}), ...(choices.long ?? [])]) {
    if (!used.has(path)) throw new Error(`${file}: the mapping names ${path}, which the schema does not have`)
  }
  for (const [name, mapping] of Object.entries(choices.indexOnly ?? {})) {
    if (name in properties) throw new Error(`${file}: ${name} is in the schema, it cannot be index-only`)
    properties[name] = mapping
  }
  return { dynamic: 'strict', properties }
}
