import type { ConsumerHealthSnapshot } from '@opsreview/kafka/consumer-health'
import type { PipelineFailing, PipelineWaiting } from './bulk-pipeline.ts'

/** What `/readyz` is decided from. */
export interface ReadinessInput {
  joined: boolean
  breaker: 'open' | 'half-open' | 'closed'
  health: ConsumerHealthSnapshot
  failing: PipelineFailing | undefined
  waiting: PipelineWaiting[]
  now: number
}

export interface Readiness {
  ready: boolean
  /** Why not, in words; empty when ready. */
  reasons: string[]
  joined: boolean
  breaker: ReadinessInput['breaker']
  stalled: boolean
  stalledPartitions: { topic: string; partition: number; lag: number; position: string | null; noProgressForSeconds: number; oldestUnprocessedAgeSeconds: number }[]
  /** An outage being retried now: Elasticsearch down, or the making of `index` failing for want of it. */
  failing?: { reason: string; sinceSeconds: number; attempts: number; error: string; index?: string }
  /** Documents held back by a retriable refusal of their own (a blocked or closed index) while Elasticsearch takes other writes. */
  waiting?: { reason: string; index: string; documents: number; partitions: Record<string, number>; sinceSeconds: number; error: string }[]
}

/**
 * The indexer is ready when it is in its consumer group, Elasticsearch takes writes (breaker closed), and
 * no partition has stalled: records waiting with no progress for the stall time mean it is not doing its
 * job, whatever the breaker says.
 */
export function indexerReadiness(i: ReadinessInput): Readiness {
  const reasons: string[] = []
  if (!i.joined) reasons.push('not in its consumer group yet')
  if (i.breaker !== 'closed') reasons.push(`elasticsearch breaker ${i.breaker}`)
  const stalledPartitions = i.health.partitions.filter((p) => p.stalled).map(({ topic, partition, lag, position, noProgressForSeconds, oldestUnprocessedAgeSeconds }) => ({ topic, partition, lag, position, noProgressForSeconds, oldestUnprocessedAgeSeconds }))
  if (i.health.stalled) reasons.push(`stalled: ${stalledPartitions.map((p) => `${p.topic}/${p.partition} has ${p.lag} record(s) waiting and no progress for ${Math.round(p.noProgressForSeconds)} s`).join('; ')}`)
  // A stall with Elasticsearch up is documents its index refuses: named with the stalled partitions they
  // hold back, so the operator knows which index to fix. Not a reason alone: a short wait is no stall.
  const stalledKeys = new Set(stalledPartitions.map((p) => `${p.topic}/${p.partition}`))
  for (const w of i.waiting) {
    const held = Object.keys(w.partitions).filter((p) => stalledKeys.has(p))
    const documents = held.reduce((sum, p) => sum + w.partitions[p]!, 0)
    if (held.length > 0) reasons.push(`held back: ${documents} document(s) for ${w.index} from ${held.join(', ')}, ${w.code}: ${w.error}`)
  }
  return {
    ready: reasons.length === 0,
    reasons,
    joined: i.joined,
    breaker: i.breaker,
    stalled: i.health.stalled,
    stalledPartitions,
    ...(i.failing ? { failing: { reason: i.failing.code, sinceSeconds: Math.round((i.now - i.failing.since) / 1000), attempts: i.failing.attempts, error: i.failing.error, ...(i.failing.index === undefined ? {} : { index: i.failing.index }) } } : {}),
    ...(i.waiting.length > 0 ? { waiting: i.waiting.map((w) => ({ reason: w.code, index: w.index, documents: w.documents, partitions: w.partitions, sinceSeconds: Math.round((i.now - w.since) / 1000), error: w.error })) } : {}),
  }
}
