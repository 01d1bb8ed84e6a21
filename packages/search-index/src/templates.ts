import type { Client, estypes } from '@elastic/elasticsearch'
import { classifyRequestError, IndexerError, isAlreadyExists } from './errors.ts'
import { mappingFromSchema, recordSchemas, textMapping } from './templates-from-schema.ts'

/** The generation of the indices the live indexer creates; a rebuild names its fresh ones after its start. */
export const FIRST_GENERATION = '000001'

/** Names derived from one prefix, so a test (or a second deployment) can own a separate set. */
export function indexNames(prefix: string) {
  const alerts = `${prefix}-alerts`
  return {
    alerts: {
      /** The read alias over every month. */
      alias: alerts,
      template: alerts,
      pattern: `${alerts}-*`,
      /** The month an event time is filed under, `2026.11`: old months can be dropped whole. */
      month: (eventTime: string) => `${eventTime.slice(0, 4)}.${eventTime.slice(5, 7)}`,
      /** The write alias of one month. */
      monthAlias: (month: string) => `${alerts}-${month}`,
      /** The write alias of the month an event time falls in: where live writes go. */
      indexFor: (eventTime: string) => `${alerts}-${eventTime.slice(0, 4)}.${eventTime.slice(5, 7)}`,
      /** A concrete index of one month and generation, behind that month's write alias. */
      monthIndex: (month: string, generation: string) => `${alerts}-${month}-${generation}`,
      /** The month of a month alias or month index name; undefined for any other name. */
      monthOf: (name: string): string | undefined => (name.startsWith(`${alerts}-`) ? /^(\d{4}\.\d{2})(?:-[^-]+)?$/.exec(name.slice(alerts.length + 1))?.[1] : undefined),
    },
    incidents: { alias: `${prefix}-incidents`, template: `${prefix}-incidents`, pattern: `${prefix}-incidents-*`, first: `${prefix}-incidents-${FIRST_GENERATION}` },
    problems: { alias: `${prefix}-problems`, template: `${prefix}-problems`, pattern: `${prefix}-problems-*`, first: `${prefix}-problems-${FIRST_GENERATION}` },
  }
}

/** What-if dataset names, as `opsreview replay --index` writes them and `?dataset=` reads them. */
export const WHAT_IF_DATASET_NAME = /^[a-z0-9-]{1,40}$/

/** The index prefix of a what-if dataset: its indices sit beside the live ones, under no live alias or pattern. */
export const whatIfPrefix = (livePrefix: string, dataset: string) => `${livePrefix}-whatif-${dataset}`

const keyword = { type: 'keyword' } as const
const date = { type: 'date' } as const
const long = { type: 'long' } as const
const { textWithKeyword } = textMapping

/** Explicit mappings: free-form labels are `flattened`, so arbitrary label names cannot explode the mapping. */
export const alertMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: keyword, source: keyword, fingerprint: keyword, status: keyword, severity: keyword, service: keyword, environment: keyword,
    title: textWithKeyword, description: textWithKeyword, labels: { type: 'flattened' },
    startsAt: date, endsAt: date, receivedAt: date, eventAt: date,
    links: { type: 'object', enabled: false }, origin: { type: 'object', enabled: false },
  },
}

/**
 * Incidents and problems are mapped from their JSON Schemas (templates-from-schema.ts): a field of the
 * schema is mapped by its type (a date-time is a date, an enum or any other string a keyword, an integer an
 * integer, an array of objects an object). Only what a schema cannot say is written here.
 */
export const incidentMappings: estypes.MappingTypeMapping = mappingFromSchema(recordSchemas.incident, 'incident.v1.json', {
  text: { title: 'textWithKeyword', 'alerts.title': 'textWithKeyword', 'reports.title': 'text', 'notes.text': 'text' },
  long: ['version'],
  // Derived at index time (documents.ts), for MTTA/MTTR aggregations.
  indexOnly: { timeToAcknowledgeMs: long, timeToResolveMs: long },
})

export const problemMappings: estypes.MappingTypeMapping = mappingFromSchema(recordSchemas.problem, 'problem.v1.json', {
  text: { title: 'textWithKeyword', 'reports.title': 'text', 'notes.text': 'text' },
  long: ['version'],
})

const settings = (refreshInterval: string): estypes.IndicesIndexSettings => ({
  number_of_shards: 1,
  number_of_replicas: 0,
  // Explicit, so a search-idle shard does not delay visibility.
  refresh_interval: refreshInterval,
})

/** Another indexer, or a rebuild, created it between our look and our create: that is what we wanted. */
function unlessAlreadyExists(err: unknown): void {
  if (!isAlreadyExists(err)) throw err
}

/** Creates an index, its settings and mappings from the template, unless it exists already. */
export async function createIndex(es: Client, index: string, aliases?: Record<string, estypes.IndicesAlias>): Promise<void> {
  await es.indices.create({ index, ...(aliases ? { aliases } : {}) }).catch(unlessAlreadyExists)
}

/**
 * How often incident and problem writes become searchable. They are what people look for, and few (one
 * write per incident change, against one per alert), so refreshing their index four times as often as
 * the alerts' costs little; with the alerts' 1 s, the refresh alone was up to 1 s of the time from an
 * alert to its incident in the review.
 */
export const DOCUMENT_REFRESH_INTERVAL = '250ms'

/**
 * Creates or updates the templates and, when missing, the first incident and problem indices behind
 * their aliases. Existing incident and problem indices get `documentRefreshInterval` too (a dynamic
 * setting) and the fields the schemas added since, as do the alert months, so a deployment made before
 * takes them on the next start. Every index gets its aliases explicitly, never from a template, so that a rebuild can
 * fill fresh indices before the aliases move to them. Alert months get theirs on first use
 * (`liveAlertMonths`). Without `refreshInterval` (the review, a reindex: only the indexer is configured
 * with OPSREVIEW_ES_REFRESH_INTERVAL), the alert template keeps the one it has, else 1 s: each review start
 * and each reindex put it back to 1 s, and every month index made until the indexer's next start took that.
 */
export async function ensureIndices(es: Client, prefix: string, refreshInterval?: string, documentRefreshInterval = DOCUMENT_REFRESH_INTERVAL): Promise<void> {
  const n = indexNames(prefix)
  const alertsRefresh = refreshInterval ?? (await templateRefreshInterval(es, n.alerts.template)) ?? '1s'
  const refreshOf = { alerts: alertsRefresh, incidents: documentRefreshInterval, problems: documentRefreshInterval }
  for (const [kind, mappings] of [['alerts', alertMappings], ['incidents', incidentMappings], ['problems', problemMappings]] as const) {
    await es.indices.putIndexTemplate({ name: n[kind].template, index_patterns: [n[kind].pattern], priority: 200, template: { settings: settings(refreshOf[kind]), mappings } })
  }
  for (const kind of ['incidents', 'problems'] as const) {
    if (!(await ensureDocumentAlias(es, prefix, kind))) await bringDocumentIndicesUpToDate(es, prefix, kind, refreshOf[kind])
  }
  // The alert months there already too (behind the read alias, or none yet): the month being written would
  // refuse every alert with a field the alert schema added, until the month ended.
  if (await es.indices.existsAlias({ name: n.alerts.alias })) {
    await onEachUnblocked(es, n.alerts.alias, (index) => es.indices.putMapping({ index, properties: alertMappings.properties, dynamic: alertMappings.dynamic }))
  }
}

/**
 * Puts something on every index behind `alias`: in one call, or, when a block of one of them refuses it (an
 * old month an operator made read-only, `index.blocks.read_only`: Elasticsearch refuses every put there, even
 * one that changes nothing), on each index, leaving those a block refuses as they are. Their documents wait
 * for the block anyway (a blocked index takes no writes). Until 2026-12-08 one read-only month failed every
 * start: the indexer, the review and a reindex exited before they did anything.
 */
async function onEachUnblocked(es: Client, alias: string, put: (index: string) => Promise<unknown>): Promise<void> {
  const unlessBlocked = (err: unknown) => { if (classifyRequestError(err).code !== 'es-blocked') throw err }
  try {
    await put(alias)
  } catch (err) {
    unlessBlocked(err)
    for (const index of Object.keys(await es.indices.getAlias({ name: alias }))) await put(index).catch(unlessBlocked)
  }
}

/** The refresh interval an index template gives, if the template exists and says. */
async function templateRefreshInterval(es: Client, name: string): Promise<string | undefined> {
  const found = await es.indices.getIndexTemplate({ name }, { ignore: [404] })
  return found.index_templates?.[0]?.index_template.template?.settings?.index?.refresh_interval as string | undefined
}

/**
 * Creates the first incidents or problems index behind its write alias, unless the alias exists; true when
 * it made one, from the template. An index of the first's name may be there without the alias (left by a
 * reindex stopped before it deleted the indices it replaced, the alias lost since; a snapshot restored
 * without aliases): the alias goes onto it. Before, the create's "already exists" was taken for success, no
 * alias was made, and every write of the lane waited for it for ever. Such an index was not made now, so
 * false: it may be older than the fields a schema added since (until 2026-12-07 it was taken as new, never
 * took them, and every document that had one was dead-lettered).
 */
async function ensureDocumentAlias(es: Client, prefix: string, kind: 'incidents' | 'problems'): Promise<boolean> {
  const names = indexNames(prefix)[kind]
  if (await es.indices.existsAlias({ name: names.alias })) return false
  await createIndex(es, names.first, { [names.alias]: { is_write_index: true } })
  if (await es.indices.existsAlias({ name: names.alias })) return true
  await es.indices.updateAliases({ actions: [{ add: { index: names.first, alias: names.alias, is_write_index: true } }] })
  return false
}

/**
 * Puts the refresh interval and the current mapping onto the indices behind an incidents or problems alias
 * that were not made now: they were made with what the template said then (a restored one, with none).
 * A field a newer schema adds (the mappings are strict): an index made before it would refuse every
 * document that has it. Adding a field is allowed on a live index, and putting one already there changes
 * nothing; changing one is not, and the put-mapping fails (`onMappingRefused` may let that be).
 */
async function bringDocumentIndicesUpToDate(es: Client, prefix: string, kind: 'incidents' | 'problems', refreshInterval: string, onMappingRefused?: (err: unknown) => void): Promise<void> {
  const index = indexNames(prefix)[kind].alias
  await onEachUnblocked(es, index, (target) => es.indices.putSettings({ index: target, settings: { refresh_interval: refreshInterval } }))
  const { properties, dynamic } = kind === 'incidents' ? incidentMappings : problemMappings
  const put = onEachUnblocked(es, index, (target) => es.indices.putMapping({ index: target, properties, dynamic }))
  await (onMappingRefused ? put.catch(onMappingRefused) : put)
}

/** A put-mapping Elasticsearch refused for the mapping (a changed field type) is let be; any other failure is thrown. */
function unlessMappingRefused(err: unknown): void {
  if (classifyRequestError(err).code !== 'mapping-rejected') throw err
}

/**
 * The incidents and problems write aliases, made again after a write found one missing (its index deleted
 * by hand, a cluster restored without it), as `ensureIndices` makes them at the start: their documents
 * then wait for the alias, not for the indexer's restart, and are never dead-lettered for it. The topics
 * still hold every incident's and problem's latest version for a rebuild to fill the history in.
 */
export function liveDocumentAliases(es: Client, prefix: string) {
  const n = indexNames(prefix)
  const kinds = new Map<string, 'incidents' | 'problems'>([[n.incidents.alias, 'incidents'], [n.problems.alias, 'problems']])
  const missing = new Set<string>()
  return {
    async prepare(indices: ReadonlySet<string>): Promise<void> {
      for (const index of indices) {
        const kind = kinds.get(index)
        if (kind === undefined || !missing.has(index)) continue
        // Put back onto an index there already (restored without aliases while the indexer runs), or by someone
        // else meanwhile, the index may be older than the schemas' new fields: until 2026-12-07 only a start
        // added them, and every document that had one was dead-lettered as mapping-rejected until then. Its
        // refresh interval may be another too (a restored index has Elasticsearch's 1 s, not the documents' 250 ms).
        // A put refused for the mapping (a field of another type there: Elasticsearch takes none of it then) is
        // not the lane's to wait on: its documents meet the index as it is, as before the re-attach put any
        // mapping, those it takes written and those it refuses dead-lettered as mapping-rejected one by one.
        // Held, each was counted as a failed attempt: the whole lane stalled, or went to the dead letters.
        if (!(await ensureDocumentAlias(es, prefix, kind))) await bringDocumentIndicesUpToDate(es, prefix, kind, DOCUMENT_REFRESH_INTERVAL, unlessMappingRefused)
        missing.delete(index)
      }
    },
    forget: (index: string) => { if (kinds.has(index)) missing.add(index) },
  }
}

/**
 * Creates a month's first alert index with the read alias and the month's write alias, unless the month has
 * one. A first index there already without them (a snapshot restored without aliases, an alias removed by
 * hand) gets them: its creation is skipped as done, and every write to the month waited for the alias for ever.
 */
export async function ensureAlertMonth(es: Client, prefix: string, month: string): Promise<void> {
  const n = indexNames(prefix).alerts
  if (await es.indices.existsAlias({ name: n.monthAlias(month) })) return
  const index = n.monthIndex(month, FIRST_GENERATION)
  await createIndex(es, index, { [n.alias]: {}, [n.monthAlias(month)]: { is_write_index: true } })
  if (!(await es.indices.existsAlias({ name: n.monthAlias(month) }))) {
    await es.indices.updateAliases({ actions: [{ add: { index, alias: n.alias } }, { add: { index, alias: n.monthAlias(month), is_write_index: true } }] })
  }
}

/**
 * The live write targets of alert events: each month's write alias, made sure of once per process
 * before the first write to it. Writes go to aliases only, so a rebuild that moves them redirects the
 * live indexer with it.
 */
export function liveAlertMonths(es: Client, prefix: string) {
  const n = indexNames(prefix).alerts
  const known = new Set<string>()
  return {
    indexFor: n.indexFor,
    async prepare(indices: ReadonlySet<string>): Promise<void> {
      for (const index of indices) {
        const month = n.monthOf(index)
        if (known.has(index)) continue
        // A write under the alerts prefix that names no month would wait for an alias nobody creates.
        if (index.startsWith(`${n.alias}-`) && (month === undefined || index !== n.monthAlias(month))) throw new IndexerError('invalid-target', `${index} is not a month's write alias`)
        if (month === undefined) continue
        await ensureAlertMonth(es, prefix, month)
        known.add(index)
      }
    },
    /** The alias vanished (its month was deleted): make sure of it again on the next write. */
    forget: (index: string) => { known.delete(index) },
  }
}
