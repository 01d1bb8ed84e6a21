import type { Consumer } from 'kafkajs'

/**
 * Calls `reached` for each fetch of a partition that held records but no message: only transaction markers
 * (a commit or abort takes an offset of its own) and aborted records, which kafkajs hands no reader. Such a
 * fetch never reaches eachBatch; kafkajs moves the position past it and reports it on END_BATCH_PROCESS,
 * with `lastOffset` the last of those records. A reader that reads a range to its end moves on by it, as by
 * `batch.lastOffset()` in eachBatch: by its last message's offset, it waited for an offset it was never
 * given (the dead-letter read, replay's log reader and the rebuild, until 2026-12-07/08).
 */
export function onMessagelessFetch(consumer: Consumer, reached: (topic: string, partition: number, lastOffset: string) => void): void {
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize === 0) reached(payload.topic, payload.partition, payload.lastOffset)
  })
}
