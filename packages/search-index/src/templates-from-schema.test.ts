import type { estypes } from '@elastic/elasticsearch'
import { describe, expect, it } from 'vitest'
import alertSchema from '../../../schemas/alert.v1.json' with { type: 'json' }
import { alertMappings, incidentMappings, problemMappings } from './templates.ts'
import { KEYWORD_MAX_CHARS, mappingFromSchema, recordSchemas, resolve, type SchemaNode } from './templates-from-schema.ts'

/**
 * Checks a mapping against a schema by the rules of the review's data, independently of how the mapping
 * was made: a schema field without a mapping, a mapping without a schema field, or types that disagree is
 * a finding. Returns the findings, empty when they agree.
 */
function disagreements(schema: SchemaNode, file: string, mapping: Record<string, estypes.MappingProperty>, indexOnly: readonly string[], prefix = ''): string[] {
  const out: string[] = []
  const { node: obj, file: objFile } = resolve(schema, file)
  const props = obj.properties ?? {}
  for (const [name, raw] of Object.entries(props)) {
    const path = `${prefix}${name}`
    const m = mapping[name] as (estypes.MappingProperty & { properties?: Record<string, estypes.MappingProperty>; fields?: Record<string, { type?: string }> }) | undefined
    if (!m) { out.push(`${path}: in the schema, not mapped`); continue }
    let { node, file: at } = resolve(raw, objFile)
    // A nullable field (anyOf [x, null]) and an array map as their value.
    if (node.anyOf) ({ node, file: at } = resolve(node.anyOf.find((b) => resolve(b, at).node.type !== 'null')!, at))
    if (node.type === 'array') ({ node, file: at } = resolve(node.items!, at))
    const type = Array.isArray(node.type) ? node.type.find((t) => t !== 'null') : node.type
    const expected: string[] =
      node.enum || node.const !== undefined ? ['keyword']
      : type === 'string' && node.format === 'date-time' ? ['date']
      : type === 'string' && node.pattern !== undefined ? ['keyword']
      : type === 'string' ? ['keyword', 'text']
      : type === 'integer' ? ['integer', 'long']
      : type === 'boolean' ? ['boolean']
      : type === 'object' ? ['object']
      : [`no rule for ${String(type)}`]
    const actual = m.type ?? (m.properties ? 'object' : 'none')
    if (!expected.includes(actual)) { out.push(`${path}: schema says ${expected.join(' or ')}, mapping says ${actual}`); continue }
    if (actual === 'text' && m.fields && m.fields.keyword?.type !== 'keyword') out.push(`${path}: a text's subfield must be a keyword`)
    if (actual === 'object') out.push(...disagreements(node, at, m.properties ?? {}, [], `${path}.`))
  }
  for (const name of Object.keys(mapping)) {
    if (!(name in props) && !indexOnly.includes(name)) out.push(`${prefix}${name}: mapped, not in the schema`)
  }
  return out
}

const properties = (m: estypes.MappingTypeMapping) => m.properties ?? {}

describe('incident and problem mappings from schemas/incident.v1.json and problem.v1.json', () => {
  it('the incident mapping holds every schema field with its type, and only the two MTTA/MTTR fields besides', () => {
    expect(disagreements(recordSchemas.incident, 'incident.v1.json', properties(incidentMappings), ['timeToAcknowledgeMs', 'timeToResolveMs'])).toEqual([])
    expect(incidentMappings.dynamic).toBe('strict')
  })

  it('the problem mapping holds every schema field with its type, and nothing else', () => {
    expect(disagreements(recordSchemas.problem, 'problem.v1.json', properties(problemMappings), [])).toEqual([])
    expect(problemMappings.dynamic).toBe('strict')
  })

  it('the hand-written alert mapping names every field of schemas/alert.v1.json, and only eventAt besides', () => {
    // Its types are chosen by hand (labels flattened, links and origin kept unindexed), so only the names are
    // held to the schema: a field the schema gained and the mapping lacks would be refused by the strict
    // mapping, and every alert dead-lettered, for the rest of the month its index serves.
    expect(Object.keys(properties(alertMappings)).sort()).toEqual([...Object.keys(alertSchema.properties), 'eventAt'].sort())
    expect(alertMappings.dynamic).toBe('strict')
  })

  it('the checker finds a missing mapping, an unknown mapping and a type that disagrees', () => {
    const { alertCount: _alertCount, ...withoutAlertCount } = properties(incidentMappings)
    const broken = { ...withoutAlertCount, openedAt: { type: 'keyword' }, extra: { type: 'keyword' } } as Record<string, estypes.MappingProperty>
    expect(disagreements(recordSchemas.incident, 'incident.v1.json', broken, ['timeToAcknowledgeMs', 'timeToResolveMs'])).toEqual([
      'openedAt: schema says date, mapping says keyword',
      'alertCount: in the schema, not mapped',
      'extra: mapped, not in the schema',
    ])
  })

  it('maps a field added to a schema by its type, with no second list to keep', () => {
    const schema = structuredClone(recordSchemas.problem) as SchemaNode & { properties: Record<string, SchemaNode> }
    schema.properties.reviewedAt = { anyOf: [{ $ref: 'alert.v1.json#/definitions/dateTime' }, { type: 'null' }] }
    schema.properties.tags = { type: 'array', items: { type: 'string' } } as SchemaNode
    schema.properties.muted = { type: 'boolean' }
    const m = properties(mappingFromSchema(schema, 'problem.v1.json', { long: ['version'] }))
    const keyword = { type: 'keyword', ignore_above: KEYWORD_MAX_CHARS }
    expect([m.reviewedAt, m.tags, m.muted, m.title]).toEqual([{ type: 'date' }, keyword, { type: 'boolean' }, keyword])
  })

  it('indexes no keyword longer than Lucene takes: every keyword of both mappings stops at 8,191 characters', () => {
    const keywords = (props: Record<string, estypes.MappingProperty>, prefix = ''): [string, number | undefined][] => Object.entries(props).flatMap(([name, m]) => {
      const field = m as { type?: string; ignore_above?: number; properties?: Record<string, estypes.MappingProperty>; fields?: Record<string, estypes.MappingProperty> }
      return [
        ...(field.type === 'keyword' ? [[`${prefix}${name}`, field.ignore_above] as [string, number | undefined]] : []),
        ...keywords(field.properties ?? {}, `${prefix}${name}.`),
        ...keywords(field.fields ?? {}, `${prefix}${name}.`),
      ]
    })
    const all = [...keywords(properties(incidentMappings), 'incident.'), ...keywords(properties(problemMappings), 'problem.')]
    expect(all.map(([path]) => path)).toEqual(expect.arrayContaining(['problem.signature', 'incident.groupKey', 'incident.services', 'problem.title.keyword']))
    expect(all.filter(([, limit]) => limit === undefined || limit > KEYWORD_MAX_CHARS)).toEqual([])
    expect(KEYWORD_MAX_CHARS * 4).toBeLessThanOrEqual(32_766)
  })

  it('refuses a choice the schema cannot carry: an unknown field, text on a date, long on a string, an index-only field the schema has', () => {
    const { problem } = recordSchemas
    expect(() => mappingFromSchema(problem, 'problem.v1.json', { text: { summary: 'text' } })).toThrow('the mapping names summary, which the schema does not have')
    expect(() => mappingFromSchema(problem, 'problem.v1.json', { text: { firstSeenAt: 'text' } })).toThrow('firstSeenAt is date, not free text')
    expect(() => mappingFromSchema(problem, 'problem.v1.json', { long: ['owner'] })).toThrow('owner is string, not an integer')
    expect(() => mappingFromSchema(problem, 'problem.v1.json', { indexOnly: { owner: { type: 'keyword' } } })).toThrow('owner is in the schema, it cannot be index-only')
    expect(() => mappingFromSchema({ properties: { x: { $ref: 'nowhere.json#/x' } } }, 'test.json')).toThrow('names a schema the mappings do not know')
    expect(() => mappingFromSchema({ properties: { x: { anyOf: [{ type: 'string' }, { type: 'integer' }] } } }, 'test.json')).toThrow('x: a mapping needs one type')
  })
})
