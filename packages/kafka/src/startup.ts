import type { Logger } from 'pino'
import { backoffMs, sleepUnlessAborted } from '@opsreview/lifecycle/backoff'

/** An admin client as far as the start-up needs one: each attempt makes its own. */
export interface StartupAdmin {
  connect(): Promise<void>
  disconnect(): Promise<void>
}

export interface KafkaStartup<A extends StartupAdmin> {
  createAdmin: () => A
  /** Creates the missing topics with their retention and limits, and waits for their leaders. */
  ensureTopics: (admin: A) => Promise<void>
  /** Called once the topics are set up, before the producer connects: readiness tells the two apart. */
  onTopicsReady?: () => void
  /** One attempt to connect the publisher's producer. */
  connectPublisher: () => Promise<void>
  startDraining: () => void
  logger: Logger
  /** Ends the retries (a shutdown); the start-up then resolves false. */
  ends?: AbortSignal
  /** Waits out a back-off, or less once `ends` aborts. */
  sleep?: (ms: number, ends: AbortSignal) => Promise<void>
}

type Step = 'reach' | 'topics' | 'producer'

const FAILED: Record<Step, string> = {
  reach: 'kafka not reachable yet; retrying',
  // Unlike the other steps this one may never succeed by waiting: say so, with the broker's answer in err.
  topics: 'kafka topics could not be set up; retrying (a setting the cluster cannot meet, such as OPSREVIEW_KAFKA_REPLICATION_FACTOR, fails every attempt)',
  producer: 'kafka producer could not connect yet; retrying',
}

/**
 * Starts the spool's drain, then sets up the topics and connects the publisher, retrying until both are
 * done; resolves true then, or false once `ends` aborted. `onTopicsReady` hears of the topics as soon as
 * they are set up, so that a producer that cannot connect is not reported as topics missing. The drain does
 * not wait for the topics: their set-up can fail while they exist (an admin permission the service lacks)
 * and events are acknowledged into the spool all the while; the drain retries each publish until Kafka takes
 * it (the producer never has a topic auto-created, so a missing one fails the publish, to be retried).
 * Topics set up once stay set up: a retry after a failed producer connect goes straight to the producer.
 */
export async function startKafka<A extends StartupAdmin>(deps: KafkaStartup<A>): Promise<boolean> {
  const ends = deps.ends ?? new AbortController().signal
  const sleep = deps.sleep ?? sleepUnlessAborted
  deps.startDraining()
  let topicsReady = false
  for (let attempt = 1; !ends.aborted; attempt++) {
    let step: Step = 'reach'
    try {
      if (!topicsReady) {
        const admin = deps.createAdmin()
        try {
          await admin.connect()
          // A shutdown while a step ran: the next one would only hold the shutdown up.
          if (ends.aborted) break
          step = 'topics'
          await deps.ensureTopics(admin)
          topicsReady = true
          deps.onTopicsReady?.()
        } finally {
          // Whatever failed: each attempt makes a new client, and one left connected keeps its sockets.
          await admin.disconnect().catch((err: unknown) => deps.logger.warn({ err }, 'kafka admin client did not disconnect cleanly'))
        }
        if (ends.aborted) break
      }
      step = 'producer'
      // Resolved true even if a shutdown began meanwhile: the publisher is connected, and its close ends that.
      await deps.connectPublisher()
      return true
    } catch (err) {
      if (ends.aborted) break
      deps.logger[step === 'topics' ? 'error' : 'warn']({ err, attempt, step }, FAILED[step])
      await sleep(backoffMs(attempt, 250, 5000), ends)
    }
  }
  return false
}
