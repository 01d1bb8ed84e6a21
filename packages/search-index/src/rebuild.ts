import type { Client, estypes } from '@elastic/elasticsearch'
import type { Admin, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { onMessagelessFetch } from '@opsreview/kafka/messageless-fetches'
import { untilAborted } from '@opsreview/lifecycle/abort'
import { BulkPipeline, type DeadLetter, type DeadLetterItem } from './bulk-pipeline.ts'
import { alertDocument, incidentDocument, liveWrites, problemDocument, type DocumentFor } from './documents.ts'
import { batchWrites } from './indexing-consumer.ts'
import { createIndex, ensureIndices, indexNames } from './templates.ts'

export interface RebuildOptions {
  kafka: Kafka
  es: Client
  prefix: string
  topics: { alerts: string; incidents: string; problems: string }
  logger: Logger
  /** Names the fresh indices; defaults to the start time. */
  generation?: string
  /**
   * Cancels the rebuild while no alias has moved: it stops reading and writing, deletes the fresh indices
   * it made and rejects with the signal's reason, the live indices and aliases as they were. Once the
   * aliases began to move it is not heard: the fresh indices may be live then, and the last pass writes
   * what the live indexer wrote to the old ones meanwhile, which an abort there would lose.
   */
  signal?: AbortSignal | undefined
}

export interface RebuildResult {
  generation: string
  /** The indices the aliases point to now. */
  fresh: string[]
  /** The indices they pointed to before, deleted. */
  replaced: string[]
  /** Those of `replaced` whose deletion failed (logged): left for a person to delete. */
  notDeleted: string[]
  /** Alert documents older than the oldest retained alert record, copied from the old indices. */
  carriedOver: number
  /** That bound, when the alert topic has lost records to retention. */
  oldestRetained: string | null
}

interface PartitionRange {
  low: bigint
  high: bigint
}
type Ranges = Map<string, PartitionRange>

const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`

async function ranges(admin: Admin, topics: readonly string[]): Promise<Ranges> {
  const out: Ranges = new Map()
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.set(partitionKey(topic, p.partition), { low: BigInt(p.low), high: BigInt(p.high) })
  return out
}

interface Replay {
  topics: readonly string[]
  documentFor: (topic: string) => DocumentFor
  /** Each partition is replayed from its `from` offset (its low watermark without one) up to the `to` high watermark. */
  to: Ranges
  from?: Map<string, bigint>
  groupId: string
  /** Whether every target is an alias (the catch-up pass) rather than a fresh index. */
  requireAlias: boolean
  prepare?: (indices: ReadonlySet<string>) => Promise<void>
  forget?: (index: string) => void
  /**
   * Records of a partition were removed before they were read (retention, `DeleteRecords`): every one of
   * them was received before `beforeMs`, the time of the first record read after them, or the time the
   * rest of the partition's range was found gone (`untilDone`). A log that starts past 0 counts too.
   */
  onLost?: (key: string, beforeMs: number) => void
  /** How often the partitions still pending are asked whether retention removed what is left of their range. */
  logStartCheckMs?: number
}

/**
 * Waits for `finished`, meanwhile asking every `everyMs` whether retention (or a record deletion) removed
 * the rest of a pending partition's range: records gone are never fetched, and a partition whose last
 * records went between reading its range and replaying it would be waited for for ever. Such a partition
 * is done once its log starts at or past the end of its range.
 */
async function untilDone(o: RebuildOptions, finished: Promise<void>, pending: Set<string>, end: (key: string) => bigint, done: () => void, everyMs: number, onLost?: (key: string, beforeMs: number) => void): Promise<void> {
  const admin = o.kafka.admin()
  let connected = false
  let over = false
  void finished.then(() => { over = true })
  try {
    while (!over) {
      await untilAborted(o.signal, Promise.race([finished, new Promise((resolve) => setTimeout(resolve, everyMs).unref())]))
      if (over) return
      const topics = new Set([...pending].map((key) => key.slice(0, key.lastIndexOf('/'))))
      try {
        if (!connected) { await admin.connect(); connected = true }
        for (const topic of topics) {
          for (const p of await admin.fetchTopicOffsets(topic)) {
            const key = partitionKey(topic, p.partition)
            if (pending.has(key) && BigInt(p.low) >= end(key)) {
              pending.delete(key)
              onLost?.(key, Date.now())
              o.logger.info({ partition: key, logStart: p.low, rangeEnd: String(end(key)) }, 'rebuild: the rest of a partition\'s range went to retention meanwhile')
            }
          }
        }
      } catch (err) {
        // The consumer meets the same outage and waits it out; so does this check, asking again next time.
        o.logger.warn({ err }, 'rebuild: could not ask Kafka where the pending partitions start')
      }
      if (pending.size === 0) done()
    }
  } finally {
    if (connected) await admin.disconnect()
  }
}

/**
 * What a rebuild does with the records its pipeline gives up on. Those Elasticsearch can never take the
 * live indexer dead-lettered already: the rebuild counts them in its log. A document that kept failing for
 * a passing reason of the cluster (an unavailable index, `retries-exhausted`) is one the fresh
 * indices lack and the old ones hold: `unwritten` lists those, and the rebuild stops on them before it
 * moves the aliases or deletes an old index.
 */
export function rebuildLetters(logger: Logger): { deadLetter: DeadLetter; unwritten: () => readonly DeadLetterItem[] } {
  const unwritten: DeadLetterItem[] = []
  return {
    deadLetter: async (letters) => {
      const reasons: Record<string, number> = {}
      for (const l of letters) {
        reasons[l.envelope.reason] = (reasons[l.envelope.reason] ?? 0) + 1
        if (l.envelope.reason === 'retries-exhausted') unwritten.push(l)
      }
      logger.warn({ count: letters.length, reasons }, 'rebuild: records not indexable')
    },
    unwritten: () => unwritten,
  }
}

/**
 * Replays records of the given topics through the same bulk pipeline the live indexer uses, with a
 * throwaway consumer group, and resolves when every record in range is durable in Elasticsearch. Throws
 * when a document could not be written for a passing reason (rebuildLetters).
 */
export async function replay(o: RebuildOptions, r: Replay): Promise<void> {
  const end = (key: string) => r.to.get(key)?.high ?? 0n
  const start = (key: string) => r.from?.get(key) ?? r.to.get(key)?.low ?? 0n
  const pending = new Set([...r.to.keys()].filter((key) => end(key) > start(key)))
  if (pending.size === 0) return
  const letters = rebuildLetters(o.logger)
  const pipeline = new BulkPipeline({
    es: o.es, logger: o.logger, requireAlias: r.requireAlias, prepare: r.prepare, forget: r.forget, deadLetter: letters.deadLetter,
  })
  const consumer = o.kafka.consumer({ groupId: r.groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 32 * 1024 * 1024 })
  // An abort stops the pipeline, so a batch waiting for room and a drain waiting for writes return at once.
  const onAbort = () => pipeline.stop()
  o.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    // In the try: a connect cut short by an abort is disconnected, or its sockets kept the command running.
    await untilAborted(o.signal, consumer.connect())
    await untilAborted(o.signal, consumer.subscribe({ topics: [...r.topics], fromBeginning: true }))
    let done!: () => void
    const finished = new Promise<void>((resolve) => { done = resolve })
    // The offset after the last record read of each partition: a batch starting past it follows records
    // removed before they were read (the alert topic's offsets have no gaps otherwise). A catch-up pass
    // starts at its `from`, where the pass before it ended, not at 0: until 2026-12-07 its first record was
    // taken to follow a loss, and its time, a moment ago, became the carry-over bound, so every old alert
    // document, those the log never had too, was copied into the fresh indices.
    const next = new Map<string, bigint>(r.from)
    /** Read up to `lastOffset` (markers and aborted records included): done with the partition once past its range's end. */
    const reached = (key: string, lastOffset: string) => {
      const after = BigInt(lastOffset) + 1n
      if (after > (next.get(key) ?? 0n)) next.set(key, after)
      if (after >= end(key) && pending.delete(key) && pending.size === 0) done()
    }
    // Until 2026-12-08 a partition whose range ended in a transaction marker (another client's transaction on
    // the alerts topic) was waited for for ever, and a marker between two batches read as a loss of records.
    onMessagelessFetch(consumer, (topic, partition, lastOffset) => {
      const key = partitionKey(topic, partition)
      if (pending.has(key)) reached(key, lastOffset)
    })
    await consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const key = partitionKey(batch.topic, batch.partition)
        const first = batch.messages[0]
        // By the batch's first offset, a marker's included: a marker between two fetches is no gap.
        const firstOffset = batch.firstOffset()
        if (first && firstOffset !== null && BigInt(firstOffset) > (next.get(key) ?? 0n)) r.onLost?.(key, Number(first.timestamp))
        const within = batch.messages.filter((m) => BigInt(m.offset) >= start(key) && BigInt(m.offset) < end(key))
        const last = within.at(-1)
        if (last) {
          const { ops, poison } = batchWrites(r.documentFor(batch.topic), batch.topic, batch.partition, within)
          const taken = await pipeline.add({ topic: batch.topic, partition: batch.partition, lastOffset: last.offset, ops, poison }, { shouldStop: () => !isRunning() || isStale() || o.signal?.aborted === true, whileWaiting: heartbeat })
          if (!taken) return
        }
        const lastOffset = batch.lastOffset()
        resolveOffset(lastOffset)
        reached(key, lastOffset)
      },
    })
    // A catch-up pass starts where the first one ended, not at the beginning of the log.
    for (const key of r.from?.keys() ?? []) {
      const slash = key.lastIndexOf('/')
      consumer.seek({ topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)), offset: String(start(key)) })
    }
    await untilDone(o, finished, pending, end, done, r.logStartCheckMs ?? 5000, r.onLost)
    await pipeline.drain()
    o.signal?.throwIfAborted()
    const unwritten = letters.unwritten()
    if (unwritten.length > 0) {
      const { origin, error } = unwritten[0]!.envelope
      throw new Error(`rebuild: ${unwritten.length} document(s) could not be written, the first ${origin.topic}/${origin.partition}@${origin.offset}: ${error}; `
        + 'the old indices are kept (and, before the switch, the aliases too): run the rebuild again once Elasticsearch takes writes')
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
    // A bulk request under way may still create or write to a fresh index: the caller deletes those after this.
    await pipeline.stopped()
    await consumer.disconnect()
    // The throwaway group's delete is a courtesy: a Kafka gone meanwhile (the outage a Ctrl-C cut short) must
    // not replace what the replay threw, the signal's reason above all, which the command tells as a cancel.
    const admin = o.kafka.admin()
    await admin.connect()
      .then(() => admin.deleteGroups([r.groupId]))
      .catch((err: unknown) => o.logger.warn({ err, groupId: r.groupId }, 'rebuild: the replay\'s consumer group could not be deleted'))
    await admin.disconnect()
  }
}

/**
 * The bound below which the alert log cannot vouch for a document: the latest time before which a
 * partition lost records unread (`lost`: before the rebuild, its log starting past 0; or during the replay,
 * retention deleting what it had not read yet), and the rebuild's start for a partition that had lost them
 * all before it began. Every record received after the bound was replayed, because retention deletes a
 * partition from its oldest end. Undefined when no partition has lost any.
 */
export function oldestRetained(alertRanges: Ranges, lost: ReadonlyMap<string, number>, startedAt: number): number | undefined {
  let bound: number | undefined
  for (const [key, { low, high }] of alertRanges) {
    const t = lost.get(key) ?? (low > 0n && high === low ? startedAt : undefined)
    if (t !== undefined) bound = Math.max(bound ?? t, t)
  }
  return bound
}

/**
 * How far past the bound documents are carried over. The bound is a record's Kafka timestamp, the documents'
 * time their `receivedAt`: the clocks of two receiver hosts. A record just before the trimmed edge, stamped
 * by a receiver whose clock ran ahead, has a `receivedAt` past the bound, and was neither replayed nor copied.
 * Past the bound the log restored every document already, so a copy there is a 409 (`create`), unless the old
 * index holds one the log never had: kept, the price of not losing the others.
 */
export const CARRY_OVER_SKEW_MS = 5 * 60_000

/**
 * Copies the alert documents of `from` received before `before` into `to`, as they are. `create` lets a
 * document the log restored already stand (409); any other failure fails the rebuild before any alias moves.
 * A client-side scroll, because `_reindex` is a module not every distribution carries.
 */
async function copyOlderThan(es: Client, from: string, to: string, before: string, signal: AbortSignal | undefined, logger: Logger): Promise<number> {
  const failed: unknown[] = []
  const documents = es.helpers.scrollDocuments<{ id: string }>({ index: from, query: { range: { receivedAt: { lt: before } } }, size: 2000 })
  // A copy of months of alerts takes long: an abort ends it at the next document. Ended, not thrown: on a
  // throw of its datasource the bulk helper rejects at once, its requests under way unanswered, and one
  // answered after the caller deleted the fresh indices made its index again (`create` to a concrete
  // index), a generation no alias reads. Ended, it sends nothing more and waits for those requests.
  // A scroll that fails ends it alike, and its error is thrown once those requests are answered: the
  // rebuild's cleanup deletes the fresh indices then.
  let readFailed: { err: unknown } | undefined
  async function* documentsToCopy() {
    try {
      for await (const doc of documents) {
        if (signal?.aborted) {
          logger.info({ index: to }, 'rebuild: carry-over cancelled: waiting for its bulk requests under way')
          // Read only once a document came: by then `bulk` is set.
          bulk.abort()
          return
        }
        yield doc
      }
    } catch (err) {
      // After the scroll's first request went out: `bulk` is set.
      logger.warn({ err, index: from }, 'rebuild: carry-over failed reading: waiting for its bulk requests under way')
      readFailed = { err }
      bulk.abort()
    }
  }
  const bulk = es.helpers.bulk<{ id: string }>({
    datasource: documentsToCopy(),
    flushBytes: 5 * 1024 * 1024,
    onDocument: (doc) => ({ create: { _index: to, _id: doc.id } }),
    onDrop: (dropped) => { if (dropped.status !== 409) failed.push(dropped.error) },
  })
  // A request under way that fails after a cancel (a 500, a timeout) rejects the helper: still the cancel.
  const stats = await bulk.catch((err: unknown) => {
    signal?.throwIfAborted()
    throw err
  })
  signal?.throwIfAborted()
  if (readFailed) throw readFailed.err
  if (failed.length > 0) throw new Error(`rebuild: ${failed.length} alert document(s) could not be carried over from ${from}: ${JSON.stringify(failed[0])}`)
  return stats.successful
}

/** Catch-up rounds into the fresh indices before the aliases move, at the most. */
const CATCH_UP_ROUNDS = 5
/** A round that had fewer records than this to write is the last before the move. */
const CATCH_UP_SMALL = 1000

/** Each partition's high watermark: where the next pass starts. */
function highs(r: Ranges): Map<string, bigint> {
  return new Map([...r].map(([key, range]) => [key, range.high]))
}

/** Every index under the prefix with its aliases. */
async function aliasesByIndex(es: Client, prefix: string): Promise<Map<string, string[]>> {
  const all = await es.indices.getAlias({ index: `${prefix}-*` })
  return new Map(Object.entries(all).map(([index, { aliases }]) => [index, Object.keys(aliases ?? {})]))
}

/**
 * Rebuilds the index from Kafka, the source of truth, into fresh indices while readers keep using the old
 * ones. Alert events go into fresh month indices; alert documents older than the oldest retained record
 * are copied over from the old indices (the log no longer has them, so it cannot correct them). Then every
 * alias (the alert read alias, each month's write alias, incidents, problems) moves to the fresh indices
 * in one atomic `_aliases` call, once catch-up passes have written what arrived during the replay into the
 * fresh indices; a last pass writes what arrived during the last of them through the aliases as the live
 * indexer does (ids and external versions keep the newest), and the old indices are deleted.
 */
export async function rebuildFromKafka(o: RebuildOptions): Promise<RebuildResult> {
  const made: string[] = []
  const moving = { started: false }
  // Said when heard: deleting the fresh indices waits for the writes under way, and the operator who pressed
  // Ctrl-C learns meanwhile whether the rebuild stops or, the aliases moving already, finishes.
  const onAbort = () => o.logger.info({ aliasesMoving: moving.started }, moving.started
    ? 'rebuild: cancelled after the aliases began to move: finishing, as the fresh indices may be live'
    : 'rebuild: cancelled: stopping, then deleting the fresh indices; the live indices and aliases stay as they were')
  o.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    return await rebuild(o, made, moving)
  } catch (err) {
    // Failed or cancelled before any alias moved: nothing reads the fresh indices, and nothing would ever delete them.
    // Each failed try (Kafka down, Elasticsearch refusing writes) left a whole generation beside the live
    // one, taking the disk of a full copy. Once the move began they may be live: they stay.
    if (!moving.started && made.length > 0) {
      await o.es.indices.delete({ index: made.join(','), ignore_unavailable: true }).catch((deleteErr: unknown) => {
        o.logger.warn({ err: deleteErr, indices: made }, 'rebuild: the fresh indices of a failed rebuild could not be deleted: delete them by hand')
      })
    }
    throw err
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
  }
}

async function rebuild(o: RebuildOptions, made: string[], moving: { started: boolean }): Promise<RebuildResult> {
  o.signal?.throwIfAborted()
  const startedAt = Date.now()
  const generation = o.generation ?? startedAt.toString(36)
  const n = indexNames(o.prefix)
  await ensureIndices(o.es, o.prefix)
  const fresh = { incidents: `${o.prefix}-incidents-${generation}`, problems: `${o.prefix}-problems-${generation}` }
  // Counted before the answer: a create cut short may have made the index all the same.
  for (const index of Object.values(fresh)) { o.signal?.throwIfAborted(); made.push(index); await createIndex(o.es, index) }
  const freshMonths = new Set<string>()
  const freshMonth = async (month: string) => {
    if (freshMonths.has(month)) return
    made.push(n.alerts.monthIndex(month, generation))
    await createIndex(o.es, n.alerts.monthIndex(month, generation))
    freshMonths.add(month)
  }

  const admin = o.kafka.admin()
  try {
    await untilAborted(o.signal, admin.connect())
    const first = await untilAborted(o.signal, ranges(admin, Object.values(o.topics)))
    o.logger.info({ generation }, 'rebuild: replaying the topics into fresh indices')
    const lost = new Map<string, number>()
    const freshDocuments = new Map([
      [o.topics.alerts, alertDocument((at) => n.alerts.monthIndex(n.alerts.month(at), generation))],
      [o.topics.incidents, incidentDocument(fresh.incidents)],
      [o.topics.problems, problemDocument(fresh.problems)],
    ])
    const intoFresh = {
      topics: Object.values(o.topics),
      documentFor: (topic: string) => freshDocuments.get(topic)!,
      requireAlias: false,
      prepare: async (indices: Iterable<string>) => { for (const index of indices) { const month = n.alerts.monthOf(index); if (month !== undefined) await freshMonth(month) } },
      onLost: (key: string, beforeMs: number) => lost.set(key, Math.max(lost.get(key) ?? beforeMs, beforeMs)),
    }
    await replay(o, { ...intoFresh, to: first, groupId: `${o.prefix}-rebuild-${generation}-1` })
    // What arrived during the replay goes into the fresh indices too, before any alias moves: moved first,
    // the readers saw the fresh indices without it (an incident resolved meanwhile open again, one opened
    // meanwhile missing) until the pass after the move wrote it, and for good when the rebuild stopped
    // between the two. Each round is shorter; what arrives during the last is written after the move.
    let replayed = first
    for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
      const now = await untilAborted(o.signal, ranges(admin, Object.values(o.topics)))
      const behind = [...now].reduce((sum, [key, r]) => sum + Number(r.high - (replayed.get(key)?.high ?? r.low)), 0)
      if (behind === 0) break
      await replay(o, { ...intoFresh, to: now, from: highs(replayed), groupId: `${o.prefix}-rebuild-${generation}-catch-up-${round}` })
      o.logger.info({ generation, records: behind }, 'rebuild: caught up into the fresh indices')
      replayed = now
      if (behind < CATCH_UP_SMALL) break
    }

    const before = await aliasesByIndex(o.es, o.prefix)
    const isFresh = (index: string) => index === fresh.incidents || index === fresh.problems || (n.alerts.monthOf(index) !== undefined && index.endsWith(`-${generation}`))
    const oldAlertIndices = [...before].filter(([index, aliases]) => !isFresh(index) && aliases.includes(n.alerts.alias)).map(([index]) => index)
    const alertRanges = new Map([...first].filter(([key]) => key.startsWith(`${o.topics.alerts}/`)))
    const bound = oldestRetained(alertRanges, lost, startedAt)
    let carriedOver = 0
    if (bound !== undefined) {
      const copiedBefore = new Date(bound + CARRY_OVER_SKEW_MS).toISOString()
      for (const index of oldAlertIndices) {
        const month = n.alerts.monthOf(index)
        if (month === undefined) continue
        await freshMonth(month)
        carriedOver += await copyOlderThan(o.es, index, n.alerts.monthIndex(month, generation), copiedBefore, o.signal, o.logger)
      }
      // Both times: the documents copied reach past the bound by the receivers' clock skew.
      o.logger.info({ carriedOver, oldestRetained: new Date(bound).toISOString(), copiedReceivedBefore: copiedBefore }, 'rebuild: alert documents older than the log carried over')
    }

    // Move every alias in one call. A live indexer that opened a new month meanwhile gave it an index of
    // its own: the loop moves that month too.
    const replaced = new Set<string>()
    for (let round = 0; ; round++) {
      const current = await aliasesByIndex(o.es, o.prefix)
      const actions: estypes.IndicesUpdateAliasesAction[] = []
      for (const [index, aliases] of current) {
        if (isFresh(index)) continue
        for (const alias of aliases) {
          const month = n.alerts.monthOf(alias)
          const ours = alias === n.alerts.alias || alias === n.incidents.alias || alias === n.problems.alias || (month !== undefined && alias === n.alerts.monthAlias(month))
          if (!ours) continue
          actions.push({ remove: { index, alias } })
          replaced.add(index)
          if (month !== undefined) await freshMonth(month)
        }
      }
      if (actions.length === 0 && round > 0) break
      if (round === 10) throw new Error('rebuild: the aliases kept changing while they were being moved')
      if (round === 0) {
        actions.push({ add: { index: fresh.incidents, alias: n.incidents.alias, is_write_index: true } })
        actions.push({ add: { index: fresh.problems, alias: n.problems.alias, is_write_index: true } })
      }
      for (const month of freshMonths) {
        const index = n.alerts.monthIndex(month, generation)
        if (round === 0 || !(current.get(index) ?? []).includes(n.alerts.monthAlias(month))) {
          actions.push({ add: { index, alias: n.alerts.alias } }, { add: { index, alias: n.alerts.monthAlias(month), is_write_index: true } })
        }
      }
      // The last moment an abort is heard: from here on the fresh indices may be live.
      if (!moving.started) o.signal?.throwIfAborted()
      // Before the answer: a call that failed may have been applied all the same.
      moving.started = true
      await o.es.indices.updateAliases({ actions })
      o.logger.info({ generation, replaced: [...replaced] }, 'rebuild: aliases moved to the fresh indices')
    }

    // What the live indexer wrote to the old indices while we replayed: write it again, through the aliases.
    const second = await ranges(admin, Object.values(o.topics))
    const live = liveWrites(o.es, o.prefix, o.topics)
    await replay({ ...o, signal: undefined }, {
      topics: Object.values(o.topics),
      documentFor: live.documentFor,
      to: second,
      from: highs(replayed),
      groupId: `${o.prefix}-rebuild-${generation}-2`,
      ...live.pipeline,
    })
    const kept: string[] = []
    for (const index of replaced) {
      await o.es.indices.delete({ index }).catch((err: unknown) => {
        // The aliases moved already: the index only takes disk now, and nothing reads it.
        o.logger.warn({ err, index }, 'rebuild: a replaced index could not be deleted: delete it by hand')
        kept.push(index)
      })
    }
    return {
      generation,
      fresh: [fresh.incidents, fresh.problems, ...[...freshMonths].map((m) => n.alerts.monthIndex(m, generation))].sort(),
      replaced: [...replaced].sort(),
      notDeleted: kept.sort(),
      carriedOver,
      oldestRetained: bound === undefined ? null : new Date(bound).toISOString(),
    }
  } finally {
    await admin.disconnect()
  }
}
