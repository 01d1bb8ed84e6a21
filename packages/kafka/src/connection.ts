/**
 * The kafkajs connection options (brokers, TLS, SASL) of the validated configuration: every service and
 * command builds its client with these, so a deployment's TLS and SASL settings apply everywhere alike.
 * The variables are parsed and their files read by @opsreview/config (kafkaConnectionSpec);
 * docs/production-connections.md describes them.
 */
import type { KafkaConfig, SASLOptions } from 'kafkajs'
import { backoffMs } from '@opsreview/lifecycle/backoff'
import { registerCompressionCodecs } from './compression.ts'
import { isKafkaUnavailable, KafkaUnavailableError } from './errors.ts'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

/** The mechanisms opsreview offers: kafkajs's user-and-password ones. */
export type KafkaPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

/** The part of a service's validated configuration this reads (the shape kafkaConnectionSpec yields). */
export interface KafkaConnectionConfig {
  readonly OPSREVIEW_KAFKA_BROKERS: readonly string[]
  readonly OPSREVIEW_KAFKA_SSL: boolean
  /** PEM content of the CA file, not its path. */
  readonly OPSREVIEW_KAFKA_SSL_CA: string | undefined
  readonly OPSREVIEW_KAFKA_SASL_MECHANISM: KafkaPasswordMechanism | undefined
  readonly OPSREVIEW_KAFKA_SASL_USERNAME: string
  readonly OPSREVIEW_KAFKA_SASL_PASSWORD: string
}

export type KafkaConnectionOptions = Required<Pick<KafkaConfig, 'brokers'>> & Pick<KafkaConfig, 'ssl' | 'sasl'>

export function kafkaConnectionOptions(c: KafkaConnectionConfig): KafkaConnectionOptions {
  // Here, because every service and command builds its client from these options: none can forget it and
  // stop on the first record another team's producer compressed with snappy, lz4 or zstd (compression.ts).
  registerCompressionCodecs()
  // ssl: true is Node's default verification against the system CAs; with a CA file, only that file is
  // trusted. Host names are verified either way (kafkajs passes the broker host as servername).
  const ssl = !c.OPSREVIEW_KAFKA_SSL ? undefined : c.OPSREVIEW_KAFKA_SSL_CA === undefined ? true : { ca: [c.OPSREVIEW_KAFKA_SSL_CA] }
  const mechanism = c.OPSREVIEW_KAFKA_SASL_MECHANISM
  const sasl: SASLOptions | undefined = mechanism === undefined
    ? undefined
    : { mechanism, username: c.OPSREVIEW_KAFKA_SASL_USERNAME, password: c.OPSREVIEW_KAFKA_SASL_PASSWORD }
  return { brokers: [...c.OPSREVIEW_KAFKA_BROKERS], ...(ssl === undefined ? {} : { ssl }), ...(sasl === undefined ? {} : { sasl }) }
}

/** For the start log: how the service connects, without the secrets. */
export function describeKafkaConnection(c: KafkaConnectionConfig): { brokers: readonly string[]; tls: 'off' | 'system CAs' | 'CA file'; sasl: string } {
  return {
    brokers: c.OPSREVIEW_KAFKA_BROKERS,
    tls: !c.OPSREVIEW_KAFKA_SSL ? 'off' : c.OPSREVIEW_KAFKA_SSL_CA === undefined ? 'system CAs' : 'CA file',
    sasl: c.OPSREVIEW_KAFKA_SASL_MECHANISM === undefined ? 'off' : `${c.OPSREVIEW_KAFKA_SASL_MECHANISM} as ${c.OPSREVIEW_KAFKA_SASL_USERNAME}`,
  }
}

/** What `connectProducer` needs of a producer: kafkajs's, or a stand-in in a unit test. */
export interface Connectable {
  connect(): Promise<void>
  disconnect(): Promise<void>
}

export interface ConnectRetry {
  /**
   * No attempt starts after this long: the last error is thrown. An attempt already running goes to its
   * end (a connect includes kafkajs's own retries, seconds with its defaults).
   */
  timeoutMs?: number
  /** The first wait between attempts; it doubles up to 2 s. */
  initialDelayMs?: number
  /** Told of each failed attempt that will be retried. */
  onRetry?: (err: unknown, attempt: number) => void
  sleep?: (ms: number) => Promise<void>
}

/**
 * Connects an idempotent producer, retrying what a moment can mend. kafkajs asks the broker the metadata
 * names as controller for the producer id and does not retry a connection error there. On a cluster,
 * until the controllers fence a node that died (`broker.session.timeout.ms`, 9 s by default), that can be
 * the dead node: a service starting then failed at once, where a few seconds later it would have
 * connected. An error kafkajs marks as not retriable (a refused login) is thrown at once. After a failed
 * attempt the producer is disconnected, which drops kafkajs's cached metadata: the next attempt, here or
 * the caller's, asks the cluster afresh which node to go to.
 */
export async function connectProducer(producer: Connectable, opts: ConnectRetry = {}): Promise<void> {
  const { timeoutMs = 30_000, initialDelayMs = 250, onRetry, sleep = (ms) => new Promise((r) => setTimeout(r, ms)) } = opts
  const deadline = deadlineIn(timeoutMs)
  for (let attempt = 1; ; attempt++) {
    try {
      await producer.connect()
      return
    } catch (err) {
      // Also before giving up: a caller with a loop of its own (the receiver's) starts its next round afresh.
      await producer.disconnect().catch(() => undefined)
      const delay = backoffMs(attempt, initialDelayMs, 2000)
      // Ours too: BatchPublisher's connect fails so when its producer was replaced meanwhile.
      const mendable = isKafkaUnavailable(err) || err instanceof KafkaUnavailableError
      if (!mendable || delay > deadline.left()) throw err
      onRetry?.(err, attempt)
      await sleep(delay)
    }
  }
}

/**
 * kafkajs retries for an idempotent producer whose sends have a deadline of their own (`SerialProducer`'s
 * `sendTimeoutMs`): kafkajs retries an idempotent producer's send for ever by default, also after the
 * producer was replaced for missing its deadline. 10 retries back off about 13 s in all, plus each attempt's
 * request timeout; kafkajs warns once per producer that limiting them may break exactly-once, which these
 * producers do not rely on (consumers dedupe by id).
 */
export const BOUNDED_SEND_RETRY = Object.freeze({ retries: 10, initialRetryTime: 100, maxRetryTime: 2000 })
