// The field tables of docs/incident-and-problem.md, rendered from the schemas' descriptions: the document
// says what the schema says. field-docs.test.ts fails when the document is behind its schema;
// `node packages/schemas/scripts/write-field-docs.ts` rewrites the tables.
import alertEvent from '../../../schemas/alert.v1.json' with { type: 'json' }
import command from '../../../schemas/command.v1.json' with { type: 'json' }
import incident from '../../../schemas/incident.v1.json' with { type: 'json' }
import problem from '../../../schemas/problem.v1.json' with { type: 'json' }

interface Node {
  $ref?: string
  type?: string | string[]
  format?: string
  pattern?: string
  minimum?: number
  maxItems?: number
  minItems?: number
  maxLength?: number
  enum?: unknown[]
  const?: unknown
  anyOf?: Node[]
  items?: Node
  properties?: Record<string, Node>
  required?: string[]
  description?: string
}

const files: Record<string, unknown> = { 'alert.v1.json': alertEvent, 'command.v1.json': command, 'incident.v1.json': incident, 'problem.v1.json': problem }

/** The documented records: the table between `<!-- fields:<name> -->` and `<!-- /fields:<name> -->` in the document. */
export const documentedRecords = { incident: 'incident.v1.json', problem: 'problem.v1.json' } as const

function resolve(node: Node, file: string): { node: Node; file: string; description?: string } {
  let description = node.description
  while (node.$ref !== undefined) {
    const [target = '', pointer = ''] = node.$ref.split('#')
    file = target || file
    let at: unknown = files[file]
    for (const part of pointer.split('/').filter(Boolean)) at = (at as Record<string, unknown> | undefined)?.[part]
    if (at === undefined) throw new Error(`${file}: $ref ${node.$ref} points at nothing`)
    node = at as Node
    description ??= node.description
  }
  return { node, file, description: description ?? node.description }
}

const code = (v: unknown) => `\`${v === null ? 'null' : String(v)}\``

/** The type of a field in words; nested objects are described in rows of their own. */
function typeOf(node: Node, file: string): string {
  const r = resolve(node, file)
  const n = r.node
  if (n.anyOf) return n.anyOf.map((b) => typeOf(b, r.file)).join(' or ')
  if (n.enum) return n.enum.map(code).join(', ')
  if (n.const !== undefined) return code(n.const)
  const type = Array.isArray(n.type) ? n.type.join(' or ') : n.type
  if (type === 'array') {
    const bounds = [n.minItems !== undefined ? `at least ${n.minItems}` : '', n.maxItems !== undefined ? `at most ${n.maxItems}` : ''].filter(Boolean).join(', ')
    return `list${bounds ? ` (${bounds})` : ''} of ${typeOf(n.items ?? {}, r.file)}`
  }
  if (type === 'string' && n.format === 'date-time') return 'date-time'
  if (type === 'string' && n.pattern) return `id ${code(n.pattern)}`
  if (type === 'string' && n.maxLength !== undefined) return `string (at most ${n.maxLength} characters)`
  if (type === 'integer' && n.minimum !== undefined) return `integer ≥ ${n.minimum}`
  if (type === 'object') return 'object'
  return type ?? 'any'
}

/** The object a field holds, directly or as list items, when it has fields of its own. */
function objectOf(node: Node, file: string): { node: Node; file: string } | undefined {
  const r = resolve(node, file)
  if (r.node.anyOf) return undefined
  if (r.node.type === 'array' && r.node.items) return objectOf(r.node.items, r.file)
  return r.node.properties ? r : undefined
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ')

function rows(schema: Node, file: string, prefix: string): string[] {
  const out: string[] = []
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`
    const r = resolve(child, file)
    const list = r.node.type === 'array'
    out.push(`| \`${path}\` | ${cell(typeOf(child, file))} | ${cell(r.description ?? '')} |`)
    const inner = objectOf(child, file)
    if (inner) out.push(...rows(inner.node, inner.file, `${path}${list ? '[]' : ''}.`))
  }
  return out
}

/** The Markdown table of a record's fields, every one required (null where the schema allows it). */
export function fieldTable(record: keyof typeof documentedRecords): string {
  const file = documentedRecords[record]
  return ['| field | type | what it means for the review |', '| --- | --- | --- |', ...rows(files[file] as Node, file, '')].join('\n')
}

/** The document with each record's table replaced by the current one. */
export function withFieldTables(doc: string): string {
  let out = doc
  for (const record of Object.keys(documentedRecords) as (keyof typeof documentedRecords)[]) {
    const start = `<!-- fields:${record} -->`
    const end = `<!-- /fields:${record} -->`
    const a = out.indexOf(start)
    const b = out.indexOf(end)
    if (a < 0 || b < a) throw new Error(`the document has no ${start} … ${end} section`)
    out = `${out.slice(0, a + start.length)}\n${fieldTable(record)}\n${out.slice(b)}`
  }
  return out
}
