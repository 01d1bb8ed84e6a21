import { connectedAdmin, createTopics, indicesOfTest, kafkaClient } from '@opsreview/testing'

/**
 * A test's alert, incident and problem topics (`partitions` each, deleted after it), named after its index
 * prefix `run` (whose indices are deleted after it too), with a connected admin and an Elasticsearch client.
 */
export async function indexerTopicsOfTest(name: string, partitions?: number) {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const { prefix: run, es } = indicesOfTest(name)
  const topics = { alerts: `${run}-alerts`, incidents: `${run}-incidents`, problems: `${run}-problems` }
  await createTopics(admin, Object.values(topics), partitions)
  return { kafka, admin, run, topics, es }
}
