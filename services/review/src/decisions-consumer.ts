// Reads the review's decisions back from Kafka: the commands it published and the correlator's result of
// each, into a DecisionLog (packages/review/src/decisions.ts).
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { parseCommand, parseCommandResult, type DecisionLog } from '@opsreview/review/decisions'

export interface DecisionTopics {
  commands: string
  results: string
}

const RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000]
const SKIP_LOG_INTERVAL_MS = 60_000

export interface DecisionConsumerOptions {
  /**
   * How long a fetch waits for records when there are none (1 s). A stop waits for the fetch under way, so a
   * test that starts and stops a reader per test gives it less.
   */
  maxWaitTimeInMs?: number
}

/**
 * Keeps `log` filled from the commands and command-results topics, from the start of what they retain, for
 * as long as the service runs. Each review instance reads everything with a group of its own, so every
 * instance can answer for decisions another one published; it commits no offsets, as it keeps nothing
 * durable (a restart reads the retained log again), so the group leaves nothing behind. While Kafka is
 * down the API still serves reads; decisions then wait for their outcome in vain (202) until it is back.
 * A record that is not a command or a result is skipped and counted: the review writes nothing from it, so
 * there is nothing to dead-letter.
 */
export function startDecisionConsumer(kafka: Kafka, topics: DecisionTopics, log: DecisionLog, logger: Logger, opts: DecisionConsumerOptions = {}): { stop: () => Promise<void>; skipped: () => number } {
  let consumer: Consumer | undefined
  let stopped = false
  let skipped = 0
  let lastSkipLog = Number.NEGATIVE_INFINITY
  let timer: NodeJS.Timeout | undefined

  const skip = (topic: string, offset: string) => {
    skipped++
    // A monotonic clock: on the wall clock a step back (NTP) silenced the warning for as long as the step.
    const now = performance.now()
    if (now - lastSkipLog < SKIP_LOG_INTERVAL_MS) return
    lastSkipLog = now
    logger.warn({ topic, offset, skipped }, 'skipping a record that is not a decision or its result')
  }

  async function start(attempt: number): Promise<void> {
    if (stopped) return
    // A fetch waits at most a second: kafkajs's 5 s default held every stop of the review that long.
    const c = kafka.consumer({ groupId: `opsreview-review-${hostname()}-${randomUUID().slice(0, 8)}`, allowAutoTopicCreation: false, maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 1000 })
    consumer = c
    try {
      await c.connect()
      await c.subscribe({ topics: [topics.commands, topics.results], fromBeginning: true })
      c.on(c.events.CRASH, (e) => {
        if (e.payload.restart) return
        logger.warn({ err: e.payload.error }, 'decision reader stopped; starting again')
        void c.disconnect().catch(() => undefined).then(() => again(0))
      })
      await c.run({
        autoCommit: false,
        eachMessage: async ({ topic, message }) => {
          if (topic === topics.results) {
            const r = parseCommandResult(message.value)
            if (r) log.recordResult(r)
            else skip(topic, message.offset)
          } else {
            const d = parseCommand(message.value)
            if (d) log.recordCommand(d)
            else skip(topic, message.offset)
          }
        },
      })
      logger.info({ topics: [topics.commands, topics.results] }, 'reading decisions and their outcomes')
    } catch (err) {
      // Logged once per attempt, and the attempts back off to 30 s.
      logger.warn({ err, attempt }, 'cannot read decisions from Kafka yet; retrying')
      await c.disconnect().catch(() => undefined)
      again(attempt + 1)
    }
  }

  function again(attempt: number) {
    if (stopped) return
    timer = setTimeout(() => void start(attempt), RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)])
    timer.unref()
  }

  void start(0)
  return {
    skipped: () => skipped,
    stop: async () => {
      stopped = true
      clearTimeout(timer)
      await consumer?.disconnect().catch(() => undefined)
    },
  }
}
