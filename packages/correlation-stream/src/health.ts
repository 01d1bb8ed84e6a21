import type { EachBatchPayload } from 'kafkajs'
import type { ConsumerHealth } from '@opsreview/kafka/consumer-health'

/**
 * Tells consumer health what each batch hands over before the handler runs, so that the age of the
 * oldest record not yet durable is the record's own age (the handler reports progress via `onDurable`).
 */
export function reportingFetches(handler: (payload: EachBatchPayload) => Promise<void>, health: Pick<ConsumerHealth, 'fetched'>): (payload: EachBatchPayload) => Promise<void> {
  return (payload) => {
    const { batch } = payload
    const first = batch.messages[0]
    if (first) health.fetched(batch.topic, batch.partition, { firstOffset: first.offset, lastOffset: batch.lastOffset(), timestamp: first.timestamp })
    return handler(payload)
  }
}
