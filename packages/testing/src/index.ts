/**
 * Shared test fixtures: the captured webhook payloads, real-engine clients, unique names per test,
 * and waiting on conditions instead of sleeping.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'
import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaMessage } from 'kafkajs'
import { onTestFinished } from 'vitest'
import pino, { type Logger } from 'pino'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

// Tests configure themselves from the same variables the services read, with the local stack's defaults.
export const kafkaBrokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
export const elasticsearchUrl = process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200'

/** Reads a captured webhook payload from test/fixtures, the project's own copies. */
export function fixture<T = unknown>(relative: string): T {
  return JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures', relative), 'utf8')) as T
}

/** A name no other test or run uses: topics, groups and indices are never shared. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

export function kafkaClient(clientId = uniqueName('test')): Kafka {
  // Six retries (about 19 s of back-off) rather than three (about 2 s): a topic a service has just created
  // can answer "not the leader" for a few seconds on a freshly started broker, which failed a fresh-clone run.
  return new Kafka({ clientId, brokers: kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 6 } })
}

export function esClient(): Client {
  return new Client({ node: elasticsearchUrl })
}

/** An admin client of `kafka`, connected, and disconnected when this test finishes. */
export async function connectedAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  return admin
}

/** Creates topics for this test (`createReadyTopics`) and deletes them when it finishes. */
export async function createTopics(admin: Admin, topics: readonly string[], numPartitions = 3): Promise<void> {
  onTestFinished(async () => {
    await admin.deleteTopics({ topics: [...topics] }).catch(() => undefined)
  })
  await createReadyTopics(admin, topics.map((topic) => ({ topic, numPartitions })))
}

/**
 * A test topic keeps its records however old their timestamps, unless the test sets a retention. Tests send
 * records stamped at fixed dates (2026-11-30 and before); under the broker's default of 7 days, once the
 * calendar passed them, its retention check (every 5 minutes) deleted them in the middle of a test: a
 * rebuild then found its whole range gone and reported it lost at the time of the check (2026-12-07).
 */
function keptWhateverTheirTime(topic: ITopicConfig): ITopicConfig {
  if (topic.configEntries?.some((e) => e.name === 'retention.ms')) return topic
  return { ...topic, configEntries: [...(topic.configEntries ?? []), { name: 'retention.ms', value: '-1' }] }
}

/**
 * Creates topics and waits until every partition has a leader that answers for it. Not kafkajs's own wait
 * (`waitForLeaders`): on a loaded broker it failed with "This server does not host this topic-partition"
 * for a topic just created (fresh-clone CI, 2026-12-04), as `ensureTopics` found too. Nor the metadata
 * alone: it can name a leader while that broker still answers "not the leader" (a CI run the same day,
 * listing the offsets of a topic just created).
 */
export async function createReadyTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  await admin.createTopics({ topics: topics.map(keptWhateverTheirTime), waitForLeaders: false })
  const names = topics.map((t) => t.topic)
  await waitFor(async () => {
    const metadata = await admin.fetchTopicMetadata({ topics: names }).catch(() => undefined)
    if (!metadata?.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0 && p.partitionErrorCode === 0))) return undefined
    for (const topic of names) if (!(await admin.fetchTopicOffsets(topic).then(() => true, () => false))) return undefined
    return true
  }, { timeoutMs: 30_000, what: `leaders for ${names.join(', ')}` })
}

/**
 * Deletes every index and template matching `prefix*` when the test finishes. With a client of its own:
 * vitest runs onTestFinished hooks in reverse order, so a client the test closes in a later hook would
 * already be closed here.
 */
export function cleanupIndices(prefix: string): void {
  onTestFinished(() => deleteIndices(prefix))
}

/**
 * A test's own index prefix (`name` and a unique suffix), its indices and templates removed when the test
 * finishes, and a client closed then.
 */
export function indicesOfTest(name: string): { prefix: string; es: Client } {
  const prefix = uniqueName(name)
  cleanupIndices(prefix)
  const es = esClient()
  onTestFinished(() => es.close())
  return { prefix, es }
}

/** Deletes every index and template matching `prefix*` now: for what a file shares among its tests (afterAll). */
export async function deleteIndices(prefix: string): Promise<void> {
  const es = esClient()
  try {
    await es.indices.delete({ index: `${prefix}*`, expand_wildcards: 'all' })
    await es.indices.deleteIndexTemplate({ name: `${prefix}*` }, { ignore: [404] })
  } finally {
    await es.close()
  }
}

/**
 * Polls `probe` until it returns a value other than undefined, or throws with the last error seen, and with
 * `lastSeen()` when given: what the probe last found, which tells a slow condition from a wrong one.
 * Waiting on a condition instead of a sleep keeps tests fast when things are fast and honest when not.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, opts: { timeoutMs?: number; intervalMs?: number; what?: string; lastSeen?: () => string } = {}): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 100, what = 'condition', lastSeen } = opts
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}${lastSeen ? `; last seen: ${lastSeen()}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export interface ReadMessage {
  key: string | null
  value: string
  partition: number
  offset: string
}

/**
 * Reads `topic` from the beginning with a fresh group until `done(messages)` holds, then stops.
 * For asserting what really reached Kafka.
 */
export function readTopicUntil(kafka: Kafka, topic: string, done: (messages: ReadMessage[]) => boolean, timeoutMs = 30_000): Promise<ReadMessage[]> {
  return readUntil(kafka, topic, (message, partition) => ({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? '', partition, offset: message.offset }), done, timeoutMs)
}

/** `readTopicUntil` of the records as kafkajs gives them: their bytes and headers, for asserting that bytes came through unchanged. */
export function readRecordsUntil(kafka: Kafka, topic: string, done: (messages: KafkaMessage[]) => boolean, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  return readUntil(kafka, topic, (message) => message, done, timeoutMs)
}

async function readUntil<T>(kafka: Kafka, topic: string, read: (message: KafkaMessage, partition: number) => T, done: (messages: T[]) => boolean, timeoutMs: number): Promise<T[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 })
  const messages: T[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}: got ${messages.length} message(s)`)), timeoutMs)
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          messages.push(read(message, partition))
          if (done(messages)) { clearTimeout(timer); resolve() }
        },
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return messages
}

/** Serves an express app on an ephemeral loopback port for this test. */
export async function serve(app: Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  onTestFinished(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const addr = server.address() as AddressInfo
  return `http://127.0.0.1:${addr.port}`
}

/** A pino logger that writes parsed JSON lines into an array, for asserting on logs. */
export function captureLogs(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>) } })
  return { logger, lines }
}

/** Reads a topic from the beginning up to its end as of now. */
export async function readTopicToEnd(kafka: Kafka, topic: string): Promise<ReadMessage[]> {
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())
  const total = ends.reduce((sum, p) => sum + (Number(p.high) - Number(p.low)), 0)
  if (total === 0) return []
  const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]))
  return readTopicUntil(kafka, topic, (m) => {
    const last = m.at(-1)!
    if (BigInt(last.offset) >= (remaining.get(last.partition) ?? -1n)) remaining.delete(last.partition)
    return remaining.size === 0
  })
}

/** The latest value per key of a compacted topic, parsed. */
export async function latestByKey<T>(kafka: Kafka, topic: string): Promise<Map<string, T>> {
  const latest = new Map<string, T>()
  for (const m of await readTopicToEnd(kafka, topic)) if (m.key !== null) latest.set(m.key, JSON.parse(m.value) as T)
  return latest
}

export { freePort } from './ports.ts'
export { issueServerCert, makeTestCa, startSaslSslKafka, tempDir, type SaslSslKafka, type ServerCert, type TestCa } from './tls.ts'
