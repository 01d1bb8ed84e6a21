import type { Admin, Producer } from 'kafkajs'
import type { Logger } from 'pino'

export interface TickerOptions {
  producer: Pick<Producer, 'send'>
  admin: Pick<Admin, 'fetchTopicMetadata'>
  inputTopic: string
  intervalMs: number
  clock: () => Date
  logger: Logger
  /** The partitions the input topic was made with: another count is said at error level (records moved between engines). */
  expectedPartitions?: number
  /** How often the partitions are read again (default a minute): partitions added meanwhile are ticked too. */
  refreshMs?: number
}

/**
 * Writes a tick into every partition of the input topic. Ticks are part of the input log, so timers
 * (quiet period, staleness) fire without new alerts and a replay of the log fires them at the same points.
 */
export function startTicker(opts: TickerOptions): { stop: () => void; tick: () => Promise<void> } {
  let partitions: number[] = []
  let readAt = 0
  let running = false
  let failures = 0
  let lastLogAt = 0
  const refreshMs = opts.refreshMs ?? 60_000
  /** Read once at the start and then every `refreshMs`: partitions added later were never ticked, and their timers never fired. */
  const readPartitions = async (now: number) => {
    const metadata = await opts.admin.fetchTopicMetadata({ topics: [opts.inputTopic] })
    partitions = (metadata.topics.find((t) => t.name === opts.inputTopic)?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b)
    readAt = now
    if (opts.expectedPartitions !== undefined && partitions.length !== opts.expectedPartitions) {
      opts.logger.error({ topic: opts.inputTopic, partitions: partitions.length, expected: opts.expectedPartitions },
        'the input topic has another partition count than it was made with: environments moved between engines, and the state of each is split; a restart refuses it (docs/correlator-reliability.md)')
    }
  }
  const tick = async () => {
    if (running) return
    running = true
    try {
      const now = opts.clock().getTime()
      // A clock stepped back (NTP) counts as due too: waiting for it to pass the last read again skipped new partitions for as long as the step.
      if (partitions.length === 0 || now - readAt >= refreshMs || now < readAt) await readPartitions(now)
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
  return { stop: () => clearInterval(timer), tick }
}
