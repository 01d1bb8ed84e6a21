import type { Admin, Producer } from 'kafkajs'
import type { Logger } from 'pino'

export interface TickerOptions {
  producer: Pick<Producer, 'send'>
  admin: Admin
  inputTopic: string
  intervalMs: number
  clock: () => Date
  logger: Logger
}

/**
 * Writes a tick into every partition of the input topic. Ticks are part of the input log, so timers
 * (quiet period, staleness) fire without new alerts and a replay of the log fires them at the same points.
 */
export function startTicker(opts: TickerOptions): { stop: () => void } {
  let partitions: number[] = []
  let running = false
  let failures = 0
  let lastLogAt = 0
  const tick = async () => {
    if (running) return
    running = true
    try {
      if (partitions.length === 0) partitions = (await opts.admin.fetchTopicOffsets(opts.inputTopic)).map((p) => p.partition)
      const value = JSON.stringify({ type: 'tick', at: opts.clock().toISOString() })
      await opts.producer.send({ topic: opts.inputTopic, acks: -1, messages: partitions.map((partition) => ({ partition, key: 'tick', value })) })
      if (failures > 0) opts.logger.info({ failures }, 'ticks written again')
      failures = 0
    } catch (err) {
      // A missed tick loses nothing (the next one carries a later time); during an outage say so now and then.
      const now = opts.clock().getTime()
      if (failures++ === 0 || now - lastLogAt >= 60_000) {
        opts.logger.warn({ err, failures }, 'tick not written; the next one will be')
        lastLogAt = now
      }
      partitions = []
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void tick(), opts.intervalMs)
  return { stop: () => clearInterval(timer) }
}
