// Test wiring shared by the review's int tests on the real Kafka: its own commands (and results) topics, the
// commands publisher, the decision reader and, for decisions, the seeded review index, each cleaned up when
// the test finishes.
import { expect, onTestFinished } from 'vitest'
import type { Client } from '@elastic/elasticsearch'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import { Partitioners, type Kafka } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { DecisionLog, type DecisionLogLimits } from '@opsreview/review/decisions'
import { captureLogs, createTopics, kafkaClient, uniqueName } from '@opsreview/testing'
import { defaultPublicDir, type ReviewDeps } from './app.ts'
import { startDecisionConsumer } from './decisions-consumer.ts'
import { seedSmallReview } from './fuzz-seed.ts'

/** `limits` bound the decision log, to have a decision's result leave it. */
export async function decisionsOnKafka(limits?: DecisionLogLimits) {
  const kafka = kafkaClient()
  const admin = kafka.admin()
  const commandsTopic = uniqueName('commands')
  const resultsTopic = uniqueName('results')
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger })
  // The seeded index and the topics do not wait for each other: made side by side.
  const onKafka = async () => {
    await admin.connect()
    await createTopics(admin, [commandsTopic, resultsTopic])
    onTestFinished(async () => { await admin.deleteTopics({ topics: [commandsTopic, resultsTopic] }).catch(() => undefined); await admin.disconnect() })
    await commands.connect()
  }
  const [{ es, prefix }] = await Promise.all([seedSmallReview(), onKafka()])
  const decisions = new DecisionLog(limits)
  // Fetches that wait 100 ms, not 1 s, for records: the reader's stop at the test's end waits for the one under way.
  const reader = startDecisionConsumer(kafka, { commands: commandsTopic, results: resultsTopic }, decisions, logger, { maxWaitTimeInMs: 100 })
  onTestFinished(async () => { await reader.stop(); await commands.close(); await es.close() })
  return { es, prefix, kafka, logger, commands, commandsTopic, resultsTopic, decisions }
}

/**
 * The review app's dependencies on `decisionsOnKafka`'s index, commands topic, publisher and decision log:
 * the real clock and public files, one reader (`reader`) and one writer (dana, `secret1`), dead letters not
 * counted. `deps` replaces any of them.
 */
export function reviewDeps(on: Awaited<ReturnType<typeof decisionsOnKafka>>, deps: Partial<ReviewDeps> & Pick<ReviewDeps, 'waitTimeoutMs'>): ReviewDeps {
  return {
    es: on.es, commands: on.commands, commandsTopic: on.commandsTopic, logger: on.logger, clock: () => new Date(), indexPrefix: on.prefix,
    publicDir: defaultPublicDir, readTokens: ['reader'], writeTokens: [{ name: 'dana', secret: 'secret1' }],
    deadLetters: async () => { throw new Error('not counted here') }, decisions: on.decisions, ...deps,
  }
}

/** A commands topic of its own on the real Kafka and the publisher the review sends decisions with. */
export async function commandsOnKafka() {
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  const commandsTopic = uniqueName('commands')
  await createTopics(admin, [commandsTopic])
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ producer, logger })
  onTestFinished(async () => { await commands.close(); await producer.disconnect(); await admin.disconnect() })
  return { kafka, admin, commandsTopic, logger, commands }
}

/** A command as the stand-in read it off the topic. */
export type SeenCommand = { id: string; type: string; target: string } & Record<string, unknown>

export interface StandInOptions {
  /**
   * Done with each command before its result is published, as the engine applies it first: index its new
   * version, or take a while. A number it returns is the result's `version`, as the engine's since 2026-12-05.
   */
  beforeAnswer?: (c: SeenCommand) => Promise<void | number>
}

/**
 * Stands in for the correlator on the real Kafka: reads the commands the review published and answers each
 * on the command-results topic as the engine does (packages/correlation/src/commands.ts), refusing to
 * resolve an incident that is resolved already and accepting everything else. The real correlator's
 * refusals through the whole pipeline are in test/e2e/src/dashboard.test.ts.
 */
export async function correlatorStandIn(kafka: Kafka, commandsTopic: string, resultsTopic: string, resolved: Set<string>, opts: StandInOptions = {}) {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const consumer = kafka.consumer({ groupId: uniqueName('standin'), maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic: commandsTopic, fromBeginning: true })
  const seen: SeenCommand[] = []
  // The engine answers a command id once, its first copy (packages/correlation/src/commands.ts).
  const answered = new Set<string>()
  await consumer.run({
    eachMessage: async ({ message }) => {
      const c = JSON.parse(message.value!.toString()) as SeenCommand
      seen.push(c)
      const version = await opts.beforeAnswer?.(c)
      if (answered.has(c.id)) return
      answered.add(c.id)
      const refused = c.type === 'incident.resolve' && resolved.has(c.target)
      const result = refused
        ? { commandId: c.id, type: c.type, target: c.target, ok: false, error: 'incident is already resolved' }
        : { commandId: c.id, type: c.type, target: c.target, ok: true, ...(typeof version === 'number' ? { version } : {}) }
      await producer.send({ topic: resultsTopic, acks: -1, messages: [{ key: c.id, value: JSON.stringify(result) }] })
    },
  })
  onTestFinished(async () => { await consumer.disconnect(); await producer.disconnect() })
  return seen
}

/**
 * A `beforeAnswer` of `correlatorStandIn` that applies the review's commands to the indexed documents as the
 * correlator does (packages/correlation/src/commands.ts), and answers with their new version: a confirm of a
 * resolved problem brings it back and counts the come-back. Each command id once; a type it does not know of
 * is answered with the version as it is.
 */
export function applyingToIndex(es: Client, prefix: string) {
  const names = indexNames(prefix)
  const applied = new Set<string>()
  return async (c: SeenCommand): Promise<number | undefined> => {
    const problem = c.target.startsWith('prb-')
    const index = problem ? names.problems.alias : names.incidents.alias
    await es.indices.refresh({ index })
    // A document as indexed, changed field by field.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    type Doc = Record<string, any>
    const doc = (await es.search<Doc>({ index, size: 1, query: { term: { id: c.target } } })).hits.hits[0]!._source!
    if (applied.has(c.id)) return doc.version as number
    applied.add(c.id)
    const d: Doc = { ...doc, version: (doc.version as number) + 1 }
    switch (c.type) {
      case 'problem.confirm':
        if (d.status === 'resolved') Object.assign(d, { status: 'confirmed', resolvedAt: null, reopenCount: (d.reopenCount ?? 0) + 1 })
        else d.status = 'confirmed'
        break
      case 'problem.resolve': Object.assign(d, { status: 'resolved', resolvedAt: c.at }); break
      case 'incident.acknowledge': Object.assign(d, { acknowledgedAt: c.at, acknowledgedBy: c.actor }); break
      case 'problem.assign': case 'incident.assign': d.owner = c.owner; break
      case 'incident.resolve': Object.assign(d, { status: 'resolved', resolvedAt: c.at, resolvedBy: c.actor }); break
      default: return doc.version as number
    }
    const { timeToAcknowledgeMs: _a, timeToResolveMs: _r, ...record } = d
    const op = (problem ? problemDocument : incidentDocument)(index)(JSON.stringify(record))
    const r = await es.bulk({ refresh: true, operations: [bulkAction(op), op.document] })
    expect(r.errors).toBe(false)
    return d.version as number
  }
}
