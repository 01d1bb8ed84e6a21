import type { Admin, Producer } from 'kafkajs'
import type { Logger } from 'pino'

export interface TickerOptions {
  producer: Producer
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
  const tick = async () => {
    if (running) return
    running = true
    try {
      if (partitions.length === 0) partitions = (await opts.admin.fetchTopicOffsets(opts.inputTopic)).map((p) => p.partition)
      const value = JSON.stringify({ type: 'tick', at: opts.clock().toISOString() })
      await opts.producer.send({ topic: opts.inputTopic, acks: -1, messages: partitions.map((partition) => ({ partition, key: 'tick', value })) })
    } catch (err) {
      opts.logger.warn({ err }, 'tick not written; the next one will be')
      partitions = []
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void tick(), opts.intervalMs)
  return { stop: () => clearInterval(timer) }
}
