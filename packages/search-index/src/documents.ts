import type { Client, estypes } from '@elastic/elasticsearch'
import type { IHeaders } from 'kafkajs'
import { IndexerError } from './errors.ts'
import { indexNames, liveAlertMonths, liveDocumentAliases } from './templates.ts'

/** The Kafka record a write came from: where it was, and itself, so a dead letter can put it back. */
export interface RecordSource {
  topic: string
  partition: number
  offset: string
  key: Buffer | string | null
  value: Buffer | string | null
  headers?: IHeaders | undefined
}

/** One document write. With `version`, Elasticsearch keeps the highest version and refuses older ones. */
export interface IndexOperation {
  /** An alias (live writes) or a concrete index (a rebuild filling fresh indices). */
  index: string
  id: string
  version?: number
  /** The document's JSON: serialised once, sized for batching, and sent as it is by the client. */
  document: string
  /** The record it came from (live writes and replays): what a dead letter carries. */
  source?: RecordSource
}

/**
 * Turns a record's value into its write; throws when the record is not what the topic should hold: a
 * `SyntaxError` when it is not JSON, an `IndexerError` (`schema-invalid`, `invalid-target`) otherwise.
 */
export type DocumentFor = (value: string) => IndexOperation

/**
 * A record's JSON as one line. A bulk body is one JSON per line, so a record another producer wrote
 * pretty-printed would split into lines Elasticsearch refuses with the whole request, for ever.
 */
function oneLine(value: string, parsed: unknown): string {
  return value.includes('\n') || value.includes('\r') ? JSON.stringify(parsed) : value
}

/** Elasticsearch's limit for an `_id`, in UTF-8 bytes. */
const MAX_ID_BYTES = 512

/**
 * Refuses what Elasticsearch would refuse in a record's id. It validates every item before it runs a bulk
 * request, so one such record would fail the whole request, every document in it.
 */
function requireId(record: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') throw new IndexerError('schema-invalid', `${record}: no id`)
  const bytes = Buffer.byteLength(id)
  if (bytes > MAX_ID_BYTES) throw new IndexerError('schema-invalid', `${record}: an id of ${bytes} bytes (Elasticsearch takes at most ${MAX_ID_BYTES})`)
}

/**
 * Refuses an external version Elasticsearch would refuse (below 0), with the whole request as above, or
 * truncate (3.7 is written as 3 while a request's dedupe by id compares 3.7).
 */
function requireVersion(record: string, version: unknown): asserts version is number {
  if (typeof version !== 'number') throw new IndexerError('schema-invalid', `${record}: no numeric version`)
  if (!Number.isSafeInteger(version) || version < 0) throw new IndexerError('schema-invalid', `${record}: version ${version} is not a whole number from 0 to 2^53 - 1`)
}

/** The time an alert event is filed under: when it ended for a resolve, when it started otherwise. */
export function alertEventTime(event: { status?: unknown; startsAt?: unknown; endsAt?: unknown }): string | undefined {
  const at = event.status === 'resolved' && typeof event.endsAt === 'string' ? event.endsAt : event.startsAt
  return typeof at === 'string' && !Number.isNaN(Date.parse(at)) ? new Date(at).toISOString() : undefined
}

/** Event times a month index can be named after: years 0000–9999 (`toISOString` writes others as `+010000-…`). */
const MONTHLY = /^\d{4}-\d{2}-/

/** Alert events go to the index `indexFor` names for their event time (a month's write alias, live). */
export function alertDocument(indexFor: (eventTime: string) => string): DocumentFor {
  return (value) => {
    const event = JSON.parse(value) as Record<string, unknown>
    const at = alertEventTime(event)
    requireId('not a canonical alert event', event.id)
    if (at === undefined) throw new IndexerError('schema-invalid', 'not a canonical alert event: no readable event time')
    if (!MONTHLY.test(at)) throw new IndexerError('invalid-target', `event time ${at} is outside years 0000–9999: no month index can hold it`)
    // The record is the document already: add eventAt to its JSON rather than serialise it all again.
    const document = `${oneLine(value, event).trimEnd().slice(0, -1)},"eventAt":${JSON.stringify(at)}}`
    return { index: indexFor(at), id: event.id, document }
  }
}

const since = (from: unknown, to: unknown) =>
  typeof from === 'string' && typeof to === 'string' ? Math.max(0, Date.parse(to) - Date.parse(from)) : null

/** Incidents go to `index`: the alias (live) or a fresh index (a rebuild). MTTA and MTTR inputs are derived here. */
export function incidentDocument(index: string): DocumentFor {
  return (value) => {
    const inc = JSON.parse(value) as Record<string, unknown>
    requireId('not an incident', inc.id)
    requireVersion('not an incident', inc.version)
    const document = JSON.stringify({ ...inc, timeToAcknowledgeMs: since(inc.openedAt, inc.acknowledgedAt), timeToResolveMs: since(inc.openedAt, inc.resolvedAt) })
    return { index, id: inc.id, version: inc.version, document }
  }
}

export function problemDocument(index: string): DocumentFor {
  return (value) => {
    const p = JSON.parse(value) as Record<string, unknown>
    requireId('not a problem', p.id)
    requireVersion('not a problem', p.version)
    return { index, id: p.id, version: p.version, document: oneLine(value, p) }
  }
}

/** The bulk action line of an operation: external versions where the document has one. */
export function bulkAction(op: IndexOperation): { index: estypes.BulkIndexOperation } {
  return { index: op.version === undefined ? { _index: op.index, _id: op.id } : { _index: op.index, _id: op.id, version: op.version, version_type: 'external' } }
}

/**
 * How the live indexer writes each topic: alert events to their month's write alias, incidents and
 * problems to theirs, every target an alias and a month's alias made sure of before its first write. A
 * rebuild's catch-up pass writes the same way, so it cannot drift from the live indexer.
 */
export function liveWrites(es: Client, prefix: string, topics: { alerts: string; incidents: string; problems: string }) {
  const n = indexNames(prefix)
  const months = liveAlertMonths(es, prefix)
  const documentAliases = liveDocumentAliases(es, prefix)
  const documents = new Map([
    [topics.alerts, alertDocument(months.indexFor)],
    [topics.incidents, incidentDocument(n.incidents.alias)],
    [topics.problems, problemDocument(n.problems.alias)],
  ])
  return {
    documentFor: (topic: string): DocumentFor => {
      const documentFor = documents.get(topic)
      if (!documentFor) throw new Error(`no document mapping for topic ${topic}`)
      return documentFor
    },
    pipeline: {
      requireAlias: true,
      prepare: async (indices: ReadonlySet<string>) => { await months.prepare(indices); await documentAliases.prepare(indices) },
      forget: (index: string) => { months.forget(index); documentAliases.forget(index) },
    },
  }
}
