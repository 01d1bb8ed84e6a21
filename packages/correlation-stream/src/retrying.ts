import type { EachBatchPayload } from 'kafkajs'
import type { Logger } from 'pino'
import { backoffMs } from '@opsreview/lifecycle/backoff'
import { classifyFailure, EVICTIONS, KafkaAccessRefusedError } from './errors.ts'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

export interface RetryOptions {
  logger: Logger
  /** First back-off after a retriable failure; it doubles per consecutive failure up to `maxBackoffMs`. */
  initialBackoffMs?: number
  maxBackoffMs?: number
  /** A run of failures is logged when it starts, then at most once per this interval, with a count. */
  logEveryMs?: number
  /** Called on every retriable failure, for metrics. */
  onRetry?: (err: Error & { retriable: boolean }) => void
  /**
   * A monotonic clock in ms (default `performance.now`) for the log spacing, the outage's length and
   * forgetting a partition's failures: on the wall clock a step back (NTP) silenced the outage's log lines
   * for as long as the step.
   */
  now?: () => number
}

/**
 * The group moved on (a rebalance, another coordinator) or without this member: kafkajs rejoins by itself,
 * but only for an error whose own type says so (its runner reads no cause). A wrapped one is retried here
 * as Kafka being unavailable, and the next heartbeat meets the answer bare.
 */
const isRebalancing = (err: unknown) => {
  const type = (err as { type?: unknown }).type
  return typeof type === 'string' && (type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || EVICTIONS.has(type))
}

/**
 * Wraps a batch handler with the consumer's failure policy, the one place that acts on `retriable`:
 * - a retriable failure (Kafka unavailable) backs off, doubling up to a limit, heartbeating meanwhile,
 *   and returns without resolving anything, so kafkajs fetches the same records again; the handler must
 *   leave nothing half-done behind (the partition runner drops the engine it cannot vouch for);
 * - a non-retriable failure (a programmer error, a record Kafka refuses, Kafka refusing this client's
 *   credentials or permissions) is rethrown: kafkajs stops the consumer (its crash event), which the
 *   service turns into an exit, never a silent loop.
 * Failures are logged when a run of them starts, then at a bounded rate, and once more on recovery.
 * Poison records never reach here: handlers dead-letter them themselves.
 */
export function retryingBatches(handler: (payload: EachBatchPayload) => Promise<void>, opts: RetryOptions): (payload: EachBatchPayload) => Promise<void> {
  const initial = opts.initialBackoffMs ?? 250
  const max = opts.maxBackoffMs ?? 5000
  const logEvery = opts.logEveryMs ?? 30_000
  const now = opts.now ?? (() => performance.now())
  // The back-off doubles per topic-partition: batches of several partitions are handled at once, and one
  // that gets through says nothing of the others, nor may the others' failures lengthen its back-off. The
  // log speaks of the consumer: a line when the first partition fails, bounded lines while any still fails,
  // and one when the last gets through (or stopped failing long ago: revoked in a rebalance, say).
  const failing = new Map<string, { failures: number; at: number }>()
  let outage: { failures: number; since: number; lastLogAt: number; unlogged: number } | undefined

  return async (payload) => {
    const { topic, partition } = payload.batch
    const key = `${topic}/${partition}`
    try {
      await handler(payload)
    } catch (raw) {
      if (isRebalancing(raw)) throw raw // kafkajs rejoins the group itself
      const err = classifyFailure(raw)
      if (!err.retriable) {
        if (err instanceof KafkaAccessRefusedError) opts.logger.error({ err, topic, partition }, 'kafka refused this client (credentials or permissions): the consumer stops')
        else opts.logger.error({ err, topic, partition }, 'non-retriable failure: the consumer stops')
        throw err
      }
      opts.onRetry?.(err)
      const mine = (failing.get(key)?.failures ?? 0) + 1
      failing.set(key, { failures: mine, at: now() })
      const delay = backoffMs(mine, initial, max)
      const first = outage === undefined
      outage ??= { failures: 0, since: now(), lastLogAt: 0, unlogged: 0 }
      outage.failures++
      if (first || now() - outage.lastLogAt >= logEvery) {
        opts.logger.warn({ err, topic, partition, failures: outage.failures, suppressed: outage.unlogged, retryInMs: delay }, 'kafka unavailable: retrying the batch')
        outage.lastLogAt = now()
        outage.unlogged = 0
      } else {
        outage.unlogged++
      }
      await backOff(delay, payload)
      return
    }
    if (!outage) return
    failing.delete(key)
    // A partition that still fails comes back within a back-off and a handler's own wait (its sends time
    // out in seconds); one silent for a minute is no longer this consumer's to wait for.
    for (const [k, f] of failing) if (now() - f.at > Math.max(60_000, 4 * max)) failing.delete(k)
    if (failing.size === 0) {
      opts.logger.info({ failures: outage.failures, outageMs: now() - outage.since }, 'kafka available again: batches flow')
      outage = undefined
    }
  }
}

/** Waits in slices, heartbeating so the group keeps the member, and stops early when the consumer stops. */
async function backOff(ms: number, { heartbeat, isRunning }: EachBatchPayload): Promise<void> {
  const until = deadlineIn(ms)
  while (isRunning() && !until.passed()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, until.left())))
    try {
      await heartbeat()
    } catch (err) {
      if (isRebalancing(err)) throw err
      // Kafka is still away; the session timeout decides whether the group keeps us.
    }
  }
}
