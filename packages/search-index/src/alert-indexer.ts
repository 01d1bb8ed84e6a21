import type { Client, estypes } from '@elastic/elasticsearch'
import type { EachBatchPayload } from 'kafkajs'
import type { Logger } from 'pino'
import { alertIndexNames } from './templates.ts'

export interface DeadLetter {
  (records: { key: string; value: string }[]): Promise<void>
}

export interface AlertIndexerOptions {
  es: Client
  prefix: string
  logger: Logger
  deadLetter: DeadLetter
  /** Back-off bounds while Elasticsearch refuses; the partition waits, nothing is skipped. */
  minBackoffMs?: number
  maxBackoffMs?: number
  onIndexed?: (count: number, durationMs: number) => void
}

interface Doc {
  offset: string
  id: string
  index: string
  body: Record<string, unknown>
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
 * Builds the kafkajs `eachBatch` handler that writes alert events into their monthly index, id = event id
 * (so a redelivery overwrites itself). Offsets are resolved and committed only after Elasticsearch accepted
 * every item: retriable item failures and request failures are retried with back-off (heartbeating, so the
 * group keeps the partition); any other item failure goes to the dead-letter topic and never blocks.
 */
export function createAlertBatchHandler(opts: AlertIndexerOptions): (payload: EachBatchPayload) => Promise<void> {
  const names = alertIndexNames(opts.prefix)
  const minBackoff = opts.minBackoffMs ?? 200
  const maxBackoff = opts.maxBackoffMs ?? 10_000

  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    const log = opts.logger.child({ topic: batch.topic, partition: batch.partition })
    const docs: Doc[] = []
    const poison: { key: string; value: string }[] = []
    for (const m of batch.messages) {
      const raw = m.value?.toString() ?? ''
      try {
        const event = JSON.parse(raw) as Record<string, unknown>
        const at = (event.status === 'resolved' && typeof event.endsAt === 'string' ? event.endsAt : event.startsAt) as string
        if (typeof event.id !== 'string' || typeof at !== 'string' || Number.isNaN(Date.parse(at))) throw new Error('not a canonical alert event')
        docs.push({ offset: m.offset, id: event.id, index: names.indexFor(new Date(at).toISOString()), body: { ...event, eventAt: at } })
      } catch (err) {
        poison.push({ key: `${batch.topic}/${batch.partition}/${m.offset}`, value: JSON.stringify({ reason: 'unparseable', error: (err as Error).message, value: raw.slice(0, 16_384) }) })
      }
    }

    let pending = docs
    let backoff = minBackoff
    while (pending.length > 0) {
      if (!isRunning() || isStale()) return // rebalance or shutdown: nothing committed, the next owner redoes it
      const started = performance.now()
      let failedRetriable: Doc[] = []
      try {
        const res = await opts.es.bulk({
          operations: pending.flatMap((d) => [{ index: { _index: d.index, _id: d.id } }, d.body]),
          refresh: false,
        })
        res.items.forEach((item, i) => {
          const r = item.index as estypes.BulkResponseItem
          if (!r.error) return
          const doc = pending[i]!
          if (isRetriableItem(r.status, r.error.type)) failedRetriable.push(doc)
          else poison.push({ key: doc.id, value: JSON.stringify({ reason: r.error.type, error: r.error.reason, status: r.status, document: doc.body }) })
        })
        opts.onIndexed?.(pending.length - failedRetriable.length, performance.now() - started)
      } catch (err) {
        log.warn({ err, docs: pending.length, backoffMs: backoff }, 'elasticsearch bulk request failed; retrying')
        failedRetriable = pending
      }
      pending = failedRetriable
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
