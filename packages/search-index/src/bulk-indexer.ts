import type { Client, estypes } from '@elastic/elasticsearch'
import type { EachBatchPayload } from 'kafkajs'
import type { Logger } from 'pino'
import { indexNames } from './templates.ts'

export interface DeadLetter {
  (records: { key: string; value: string }[]): Promise<void>
}

/** One document write. With `version`, Elasticsearch keeps the highest version and refuses older ones. */
export interface IndexOperation {
  index: string
  id: string
  version?: number
  /** The document, or its JSON already serialised: the client sends a string as it is. */
  document: Record<string, unknown> | string
}

/** Turns a record's value into its write; throws when the record is not what the topic should hold. */
export type DocumentFor = (value: string) => IndexOperation

export function alertDocument(prefix: string): DocumentFor {
  const names = indexNames(prefix).alerts
  return (value) => {
    const event = JSON.parse(value) as Record<string, unknown>
    const at = (event.status === 'resolved' && typeof event.endsAt === 'string' ? event.endsAt : event.startsAt) as string
    if (typeof event.id !== 'string' || typeof at !== 'string' || Number.isNaN(Date.parse(at))) throw new Error('not a canonical alert event')
    // The record is the document already: add eventAt to its JSON rather than serialise it all again.
    const trimmed = value.trimEnd()
    const document = `${trimmed.slice(0, -1)},"eventAt":${JSON.stringify(at)}}`
    return { index: names.indexFor(new Date(at).toISOString()), id: event.id, document }
  }
}

const since = (from: unknown, to: unknown) =>
  typeof from === 'string' && typeof to === 'string' ? Math.max(0, Date.parse(to) - Date.parse(from)) : null

/** Incidents go to the alias's write index, or to `index` (a rebuild fills a fresh one). */
export function incidentDocument(prefix: string, index = indexNames(prefix).incidents.alias): DocumentFor {
  return (value) => {
    const inc = JSON.parse(value) as Record<string, unknown>
    if (typeof inc.id !== 'string' || typeof inc.version !== 'number') throw new Error('not an incident')
    return {
      index, id: inc.id, version: inc.version,
      document: { ...inc, timeToAcknowledgeMs: since(inc.openedAt, inc.acknowledgedAt), timeToResolveMs: since(inc.openedAt, inc.resolvedAt) },
    }
  }
}

export function problemDocument(prefix: string, index = indexNames(prefix).problems.alias): DocumentFor {
  return (value) => {
    const p = JSON.parse(value) as Record<string, unknown>
    if (typeof p.id !== 'string' || typeof p.version !== 'number') throw new Error('not a problem')
    return { index, id: p.id, version: p.version, document: p }
  }
}

export interface BulkIndexerOptions {
  es: Client
  logger: Logger
  deadLetter: DeadLetter
  /** The document mapping of each consumed topic. */
  documentFor: (topic: string) => DocumentFor
  /** Back-off bounds while Elasticsearch refuses; the partition waits, nothing is skipped. */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** Called before each bulk attempt; throwing (an open breaker) counts as a failed attempt. */
  guard?: <T>(attempt: () => Promise<T>) => Promise<T>
  onIndexed?: (count: number, durationMs: number) => void
  /** Called once per batch with how far the partition is behind its end. */
  onBatch?: (topic: string, partition: number, offsetLag: number) => void
  onRetry?: (reason: string) => void
}

/** Retry a per-item failure when it is load or outage, not when the document itself is wrong. */
export function isRetriableItem(status: number, type: string | undefined): boolean {
  return status === 429 || status >= 500 || type === 'cluster_block_exception'
}

/**
 * How the handler must be run: kafkajs resolves nothing by itself, and commits only what the handler
 * resolved, after each batch.
 */
export const indexerRunOptions = Object.freeze({ eachBatchAutoResolve: false, autoCommit: true, partitionsConsumedConcurrently: 3 })

/**
 * Builds the kafkajs `eachBatch` handler that bulk-writes a batch. Offsets are resolved only after
 * Elasticsearch accepted every item: retriable item failures (429, 5xx, a flood-stage block) and failed
 * requests are retried with back-off while the partition waits (heartbeating, so the group keeps it);
 * any other item failure goes to the dead-letter topic and never blocks. A version conflict means a newer
 * version is already indexed: that write is done.
 */
export function createBulkIndexHandler(opts: BulkIndexerOptions): (payload: EachBatchPayload) => Promise<void> {
  const minBackoff = opts.minBackoffMs ?? 200
  const maxBackoff = opts.maxBackoffMs ?? 10_000
  const guard = opts.guard ?? ((attempt) => attempt())

  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    const log = opts.logger.child({ topic: batch.topic, partition: batch.partition })
    opts.onBatch?.(batch.topic, batch.partition, Number(batch.offsetLag()))
    const documentFor = opts.documentFor(batch.topic)
    const ops: IndexOperation[] = []
    const poison: { key: string; value: string }[] = []
    for (const m of batch.messages) {
      const raw = m.value?.toString() ?? ''
      try {
        ops.push(documentFor(raw))
      } catch (err) {
        poison.push({ key: `${batch.topic}/${batch.partition}/${m.offset}`, value: JSON.stringify({ reason: 'unparseable', error: (err as Error).message, value: raw.slice(0, 16_384) }) })
      }
    }

    let pending = dedupeById(ops)
    let backoff = minBackoff
    while (pending.length > 0) {
      if (!isRunning() || isStale()) return // rebalance or shutdown: nothing committed, the next owner redoes it
      const started = performance.now()
      let retry: IndexOperation[] = []
      try {
        const res = await guard(() => opts.es.bulk({
          operations: pending.flatMap((d) => [
            { index: d.version === undefined ? { _index: d.index, _id: d.id } : { _index: d.index, _id: d.id, version: d.version, version_type: 'external' as const } },
            d.document,
          ]),
        }))
        res.items.forEach((item, i) => {
          const r = item.index as estypes.BulkResponseItem
          if (!r.error || r.status === 409) return
          const op = pending[i]!
          if (isRetriableItem(r.status, r.error.type)) retry.push(op)
          else poison.push({ key: op.id, value: JSON.stringify({ reason: r.error.type, error: r.error.reason, status: r.status, document: typeof op.document === 'string' ? JSON.parse(op.document) : op.document }) })
        })
        opts.onIndexed?.(pending.length - retry.length, performance.now() - started)
        if (retry.length > 0) opts.onRetry?.('item')
      } catch (err) {
        log.warn({ err, docs: pending.length, backoffMs: backoff }, 'elasticsearch bulk request failed; retrying')
        opts.onRetry?.((err as Error).name === 'OpenCircuitError' ? 'breaker-open' : 'request')
        retry = pending
      }
      pending = retry
      if (pending.length > 0) {
        await heartbeat().catch(() => undefined)
        await new Promise((r) => setTimeout(r, backoff))
        backoff = Math.min(maxBackoff, backoff * 2)
      }
    }

    if (poison.length > 0) {
      log.warn({ count: poison.length }, 'documents rejected by elasticsearch or unparseable: dead-lettered')
      await opts.deadLetter(poison)
    }
    const last = batch.messages.at(-1)
    if (last) resolveOffset(last.offset)
    await heartbeat()
  }
}

/** One bulk request must not carry two writes of one id: the later version wins within a batch. */
function dedupeById(ops: IndexOperation[]): IndexOperation[] {
  const byId = new Map<string, IndexOperation>()
  for (const op of ops) {
    const prev = byId.get(op.id)
    if (!prev || (op.version ?? 0) >= (prev.version ?? 0)) byId.set(op.id, op)
  }
  return [...byId.values()]
}
