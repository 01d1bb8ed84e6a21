// Test wiring shared by the review's int tests on the real Kafka: its own commands (and results) topics, the
// commands publisher, the decision reader and, for decisions, the seeded review index, each cleaned up when
// the test finishes.
import { onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { DecisionLog } from '@opsreview/review/decisions'
import { captureLogs, createTopics, kafkaClient, uniqueName } from '@opsreview/testing'
import { startDecisionConsumer } from './decisions-consumer.ts'
import { seedSmallReview } from './fuzz-seed.ts'

export async function decisionsOnKafka() {
  const { es, prefix } = await seedSmallReview()
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  const commandsTopic = uniqueName('commands')
  const resultsTopic = uniqueName('results')
  await createTopics(admin, [commandsTopic, resultsTopic])
  onTestFinished(async () => { await admin.deleteTopics({ topics: [commandsTopic, resultsTopic] }).catch(() => undefined); await admin.disconnect() })
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger })
  await commands.connect()
  const decisions = new DecisionLog()
  const reader = startDecisionConsumer(kafka, { commands: commandsTopic, results: resultsTopic }, decisions, logger)
  onTestFinished(async () => { await reader.stop(); await commands.close(); await es.close() })
  return { es, prefix, kafka, logger, commands, commandsTopic, resultsTopic, decisions }
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
