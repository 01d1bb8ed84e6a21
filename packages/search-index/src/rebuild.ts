import type { Client } from '@elastic/elasticsearch'
import type { Admin, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { alertDocument, createBulkIndexHandler, incidentDocument, indexerRunOptions, problemDocument, type DocumentFor } from './bulk-indexer.ts'
import { ensureIndices, indexNames } from './templates.ts'

export interface RebuildOptions {
  kafka: Kafka
  es: Client
  prefix: string
  topics: { alerts: string; incidents: string; problems: string }
  logger: Logger
  /** Names the fresh indices; defaults to the start time. */
  generation?: string
}

export interface RebuildResult {
  generation: string
  incidentsIndex: string
  problemsIndex: string
  replaced: string[]
  passes: number
}

type Ends = Map<string, bigint>

async function endOffsets(admin: Admin, topics: string[]): Promise<Ends> {
  const ends: Ends = new Map()
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}/${p.partition}`, BigInt(p.high))
  return ends
}

/**
 * Replays the retained records in [from, to) of each partition (from the beginning when `from` is not
 * given) with a throwaway consumer group, through the same bulk handler the live indexer uses.
 */
async function replay(o: RebuildOptions, documents: Map<string, DocumentFor>, to: Ends, from: Ends | undefined, groupId: string): Promise<void> {
  const admin = o.kafka.admin()
  await admin.connect()
  const pending = new Set([...to].filter(([k, end]) => end > (from?.get(k) ?? 0n)).map(([k]) => k))
  if (pending.size === 0) { await admin.disconnect(); return }
  const consumer = o.kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 5 * 1024 * 1024 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [...documents.keys()], fromBeginning: true })
    const handler = createBulkIndexHandler({ es: o.es, logger: o.logger, deadLetter: async (records) => { o.logger.warn({ count: records.length }, 'records not indexable during rebuild') }, documentFor: (t) => documents.get(t)! })
    let done: () => void
    const finished = new Promise<void>((r) => { done = r })
    await consumer.run({
      ...indexerRunOptions,
      eachBatch: async (payload) => {
        const key = `${payload.batch.topic}/${payload.batch.partition}`
        const end = to.get(key) ?? 0n
        const start = from?.get(key) ?? 0n
        const within = payload.batch.messages.filter((m) => BigInt(m.offset) >= start && BigInt(m.offset) < end)
        // kafkajs's Batch is a class: keep its prototype, replace only the messages.
        if (within.length > 0) await handler({ ...payload, batch: Object.create(payload.batch, { messages: { value: within } }) as typeof payload.batch })
        const last = payload.batch.messages.at(-1)
        if (last && BigInt(last.offset) + 1n >= end) { pending.delete(key); if (pending.size === 0) done() }
      },
    })
    await finished
  } finally {
    await consumer.disconnect()
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect()
  }
}

/**
 * Rebuilds the index from Kafka, the source of truth. Incidents and problems are replayed into fresh
 * indices while readers keep using the old ones; when the fresh ones have caught up, the aliases move to
 * them in one atomic `_aliases` call and a last pass copies what arrived meanwhile (external versions keep
 * the newest). Alerts are immutable events with their id as document id: they are replayed into their
 * monthly indices, which restores deleted documents and overwrites altered ones.
 */
export async function rebuildFromKafka(o: RebuildOptions): Promise<RebuildResult> {
  const generation = o.generation ?? Date.now().toString(36)
  const names = indexNames(o.prefix)
  await ensureIndices(o.es, o.prefix)
  const fresh = { incidents: `${o.prefix}-incidents-${generation}`, problems: `${o.prefix}-problems-${generation}` }
  for (const index of Object.values(fresh)) await o.es.indices.create({ index })
  const documents = new Map<string, DocumentFor>([
    [o.topics.alerts, alertDocument(o.prefix)],
    [o.topics.incidents, incidentDocument(o.prefix, fresh.incidents)],
    [o.topics.problems, problemDocument(o.prefix, fresh.problems)],
  ])
  const admin = o.kafka.admin()
  await admin.connect()
  try {
    const first = await endOffsets(admin, [...documents.keys()])
    o.logger.info({ generation }, 'rebuild: replaying the topics into fresh indices')
    await replay(o, documents, first, undefined, `${o.prefix}-rebuild-${generation}-1`)

    const old = Object.keys(await o.es.indices.getAlias({ name: [names.incidents.alias, names.problems.alias] }).catch(() => ({})))
    await o.es.indices.updateAliases({
      actions: [
        ...old.map((index) => ({ remove: { index, alias: index.startsWith(`${o.prefix}-incidents-`) ? names.incidents.alias : names.problems.alias } })),
        { add: { index: fresh.incidents, alias: names.incidents.alias, is_write_index: true } },
        { add: { index: fresh.problems, alias: names.problems.alias, is_write_index: true } },
      ],
    })
    o.logger.info({ generation, replaced: old }, 'rebuild: aliases moved to the fresh indices')

    // What the live indexer wrote to the old indices while we replayed: copy it over.
    const second = await endOffsets(admin, [o.topics.incidents, o.topics.problems])
    const incidentsAndProblems = new Map([...documents].filter(([t]) => t !== o.topics.alerts))
    const fromFirst = new Map([...first].filter(([k]) => second.has(k)))
    await replay(o, incidentsAndProblems, second, fromFirst, `${o.prefix}-rebuild-${generation}-2`)
    for (const index of old) await o.es.indices.delete({ index }).catch(() => undefined)
    return { generation, incidentsIndex: fresh.incidents, problemsIndex: fresh.problems, replaced: old, passes: 2 }
  } finally {
    await admin.disconnect()
  }
}
