import type { Client } from '@elastic/elasticsearch'
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'

// Poison needs no Elasticsearch: a batch of records that cannot become documents only goes to the dead-letter topic.
const noElasticsearch = {} as Client
const poisonBatch = (values: string[]) => ({
  topic: 'alerts', partition: 0, lastOffset: String(values.length - 1), ops: [],
  poison: values.map((value, i) => ({ code: 'unparseable' as const, error: 'not JSON', source: { topic: 'alerts', partition: 0, offset: String(i), key: null, value } })),
})

/** A dead-letter topic that fails `failures` calls in turn, then takes every letter. */
function deadLetterTopic(failures: Error[]) {
  const taken: DeadLetterItem[] = []
  let calls = 0
  return {
    taken,
    get calls() { return calls },
    deadLetter: async (letters: DeadLetterItem[]) => {
      const failure = failures[calls++]
      if (failure) throw failure
      taken.push(...letters)
    },
  }
}

async function deadLetterThrough(failures: Error[]) {
  const topic = deadLetterTopic(failures)
  const pipeline = new BulkPipeline({ es: noElasticsearch, logger: pino({ level: 'silent' }), deadLetter: topic.deadLetter, minBackoffMs: 1, maxBackoffMs: 2 })
  await pipeline.add(poisonBatch(['{"a":', '{"b":']))
  expect(await pipeline.drain(5_000)).toBe(true)
  return topic
}

describe('BulkPipeline dead letters', () => {
  it('keeps every letter whole through a Kafka outage, although kafkajs gives up on it with a non-retriable error', async () => {
    // What kafkajs's producer throws when its retries run out while the broker is away: retriable false.
    const outage = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), { retryCount: 5, retryTime: 1000 })
    expect(outage.retriable).toBe(false)
    // Kafka back after two failed sends: before the fix, the second was the letter alone and the third, its copy cut down, got through.
    const topic = await deadLetterThrough([outage, outage])
    expect(topic.taken.map((l) => l.envelope.replay?.value)).toEqual(['{"a":', '{"b":'])
  })

  it('sends a letter the broker refuses as too large without its copy, and the others whole', async () => {
    // kafkajs builds it from the broker's error code (src/protocol/error.js); its typings only take a message.
    const brokerError = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false })
    const tooLarge = new KafkaJSProtocolError(brokerError)
    // The batch is refused, then each letter alone: the first is the large one, refused again.
    const topic = await deadLetterThrough([tooLarge, tooLarge])
    expect(topic.taken).toHaveLength(2)
    expect(topic.taken[0]!.envelope.replay).toBeUndefined()
    expect(topic.taken[1]!.envelope.replay?.value).toBe('{"b":')
  })
})
