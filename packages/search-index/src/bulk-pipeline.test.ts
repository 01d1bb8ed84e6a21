import { errors as esErrors, type Client } from '@elastic/elasticsearch'
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs'
import pino from 'pino'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { captureLogs, waitFor } from '@opsreview/testing'
import { createBackPressure } from './back-pressure.ts'
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

describe('BulkPipeline broken by a defect', () => {
  it('tells onBroken, and throws from drain and add, instead of leaving a rejection no one handles', async () => {
    const defect = new Error('a defect where the durable offset is announced')
    const broken: unknown[] = []
    const topic = deadLetterTopic([])
    const pipeline = new BulkPipeline({
      es: noElasticsearch, logger: pino({ level: 'silent' }), deadLetter: topic.deadLetter, minBackoffMs: 1, maxBackoffMs: 2,
      onDurable: () => { throw defect }, onBroken: (err) => broken.push(err),
    })
    await pipeline.add(poisonBatch(['{"a":']))
    await expect(pipeline.drain(5_000)).rejects.toBe(defect)
    expect(broken).toEqual([defect])
    // Taken now, a batch would wait for ever in a pipeline that sends nothing more.
    await expect(pipeline.add(poisonBatch(['{"b":']))).rejects.toBe(defect)
    expect(topic.taken.map((l) => l.envelope.replay?.value)).toEqual(['{"a":'])
  })

  it('breaks on a defect while it reads an answer, which is no outage of Elasticsearch to retry', async () => {
    let bulks = 0
    const es = { bulk: async () => { bulks++; return { errors: false, items: [{ index: { status: 201 } }] } } } as unknown as Client
    const defect = new Error('a defect where the accepted documents are counted')
    const broken: unknown[] = []
    const retries: string[] = []
    const pipeline = new BulkPipeline({
      es, logger: pino({ level: 'silent' }), deadLetter: async () => undefined, minBackoffMs: 1, maxBackoffMs: 2,
      onIndexed: () => { throw defect }, onBroken: (err) => broken.push(err), onRetry: (reason, code) => retries.push(`${reason}:${code}`),
    })
    await pipeline.add({ topic: 'alerts', partition: 0, lastOffset: '0', ops: [{ index: 'alerts-test', id: 'a', document: '{}' }], poison: [] })
    // Until 2026-12-06: retried as es-unavailable, the document Elasticsearch took sent again and again (238 requests in 500 ms).
    await expect(pipeline.drain(5_000)).rejects.toBe(defect)
    expect({ bulks, broken, retries, failing: pipeline.failing }).toEqual({ bulks: 1, broken: [defect], retries: [], failing: undefined })
  })
})

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

describe('BulkPipeline back-pressure', () => {
  it('holds add back once poison fills the queue while the dead-letter topic is down, and lets it go when the topic is back', async () => {
    let down = true
    const taken: DeadLetterItem[] = []
    const deadLetter = async (letters: DeadLetterItem[]) => {
      if (down) throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')
      taken.push(...letters)
    }
    const maxQueuedBytes = 16 * 1024
    const flushBytes = 4 * 1024
    const pipeline = new BulkPipeline({ es: noElasticsearch, logger: pino({ level: 'silent' }), deadLetter, concurrency: 1, flushBytes, maxQueuedBytes, minBackoffMs: 1, maxBackoffMs: 2 })
    const value = 'x'.repeat(1000)
    const batchAt = (offset: number) => ({
      topic: 'alerts', partition: 0, lastOffset: String(offset), ops: [],
      poison: [{ code: 'unparseable' as const, error: 'not JSON', source: { topic: 'alerts', partition: 0, offset: String(offset), key: null, value } }],
    })
    // Before, add never waited: kafkajs kept fetching and the poison grew without bound (+2.36 GB RSS for 200,000 of 10 KB).
    let held: Promise<boolean> | undefined
    let offset = 0
    for (; offset < 1_000 && !held; offset++) {
      const add = pipeline.add(batchAt(offset))
      if (!await Promise.race([add.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 50))])) held = add
    }
    expect(held).toBeDefined()
    expect(pipeline.queuedBytes).toBeGreaterThanOrEqual(maxQueuedBytes)
    // What is held: the queue, the request retrying its dead letters, and the current request's last record.
    expect(offset * value.length).toBeLessThan(maxQueuedBytes + 2 * flushBytes)
    down = false
    expect(await Promise.race([held, new Promise((resolve) => setTimeout(() => resolve('still held'), 3_000))])).toBe(true)
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(pipeline.queuedBytes).toBe(0)
    expect(taken.map((l) => l.envelope.origin.offset)).toEqual(Array.from({ length: offset }, (_, i) => String(i)))
    expect(pipeline.offsets.uncommitted()).toEqual([{ topic: 'alerts', partition: 0, offset: String(offset) }])
  })
})

/**
 * An Elasticsearch that refuses writes to `refused` indices with `status` and `error`, refuses the documents
 * of the `unmappable` ids as it refuses a field of the wrong type, and takes the rest.
 */
function elasticsearch(refusal: { status: number; error: { type: string; reason: string } }) {
  const refused = new Set<string>()
  const unmappable = new Set<string>()
  const written: string[] = []
  const es = {
    bulk: async ({ operations }: { operations: unknown[] }) => {
      const items = []
      for (let i = 0; i < operations.length; i += 2) {
        const { index } = operations[i] as { index: { _index: string; _id: string } }
        if (refused.has(index._index)) items.push({ index: { status: refusal.status, error: refusal.error } })
        else if (unmappable.has(index._id)) items.push({ index: { status: 400, error: { type: 'document_parsing_exception', reason: '[1:10] failed to parse field [startsAt] of type [date]' } } })
        else { written.push(index._id); items.push({ index: { status: 201 } }) }
      }
      return { errors: items.some((it) => it.index.status >= 300), items }
    },
  }
  return { es: es as unknown as Client, refused, unmappable, written }
}

const writes = (partition: number, offset: number, ...docs: [index: string, id: string][]) => ({
  topic: 'alerts', partition, lastOffset: String(offset), poison: [],
  ops: docs.map(([index, id]) => ({ index, id, document: '{}', source: { topic: 'alerts', partition, offset: String(offset), key: null, value: '{}' } })),
})

/** Until `holds`, polled every 5 ms for up to 2 s: the pipeline retries on timers of its own. */
const until = (what: string, holds: () => boolean) => waitFor(() => (holds() ? true : undefined), { what, intervalMs: 5, timeoutMs: 2000 })

describe('BulkPipeline retries', () => {
  // Neither is the documents' fault: the operator grants the permission, `prepare` makes the alias again.
  it.each([
    { why: 'a reason of the cluster (403)', index: 'alerts-2026.12', forgets: false, code: 'es-refused', refusal: { status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized for API key' } } },
    // The incidents alias deleted with its index: every write to it answers 404.
    { why: 'a missing write alias (404)', index: 'opsreview-incidents', forgets: true, code: 'alias-missing', refusal: { status: 404, error: { type: 'index_not_found_exception', reason: 'no such index [opsreview-incidents] and [require_alias] request flag is [true] and [opsreview-incidents] is not an alias' } } },
  ])('keeps documents an index refuses for $why waiting while other indices take writes, never dead-letters them', async ({ index, forgets, code, refusal }) => {
    const cluster = elasticsearch(refusal)
    cluster.refused.add(index)
    const letters = deadLetterTopic([])
    const forgotten: string[] = []
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 2, forget: (i) => forgotten.push(i) })
    await pipeline.add(writes(0, 0, [index, 'refused-1'], ['alerts-2026.11', 'taken-0']))
    // Far more than maxItemAttempts rounds in which Elasticsearch takes other documents.
    for (let i = 1; i <= 20; i++) {
      await pipeline.add(writes(1, i, ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(letters.taken).toEqual([])
    expect(cluster.written).not.toContain('refused-1')
    expect(forgotten.includes(index)).toBe(forgets)
    expect(pipeline.offsets.uncommitted().find((o) => o.partition === 0)).toBeUndefined()
    // No outage to show in `failing`: what waits, and why, is in `waiting` (for /readyz).
    expect(pipeline.failing).toBeUndefined()
    expect(pipeline.waiting).toEqual([{ code, index, documents: 1, partitions: { 'alerts/0': 1 }, since: expect.any(Number), error: refusal.error.reason }])
    // The cause fixed: the document is written and its offset becomes durable.
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(pipeline.waiting).toEqual([])
    expect(cluster.written).toContain('refused-1')
    expect(pipeline.offsets.uncommitted()).toContainEqual({ topic: 'alerts', partition: 0, offset: '1' })
    expect(letters.taken).toEqual([])
  })

  it('dead-letters a document its index keeps refusing with a 503 only once unavailableRetryMs has passed since its first counted attempt', async () => {
    // One index's shard recovering (503 for it alone) while the others take writes.
    const unavailable = { status: 503, error: { type: 'unavailable_shards_exception', reason: '[opsreview-incidents-000001][0] primary shard is not active' } }
    const refusal = { ...unavailable }
    const cluster = elasticsearch(refusal)
    cluster.refused.add('incidents')
    const letters = deadLetterTopic([])
    let clock = 0
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 2, unavailableRetryMs: 60_000, elapsed: () => clock })
    await pipeline.add(writes(0, 0, ['incidents', 'recovering'], ['alerts-2026.11', 'taken-0']))
    // Far more than maxItemAttempts rounds in which the other index takes writes, within the minute.
    for (let i = 1; i <= 30; i++) {
      clock = i * 1000
      await pipeline.add(writes(1, i, ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    expect(letters.taken).toEqual([])
    // The shard back within the minute: written, nothing dead-lettered.
    cluster.refused.clear()
    await until('the recovered document written', () => cluster.written.includes('recovering'))
    // Refused for good: dead-lettered once the minute since its first counted attempt is over, not before.
    cluster.refused.add('incidents')
    await pipeline.add(writes(0, 1, ['incidents', 'lost-shard']))
    for (let i = 31; i <= 60; i++) {
      clock = i * 1000
      // Between 40 and 50 s its node is busy as well: a 429, which counts nothing, is no reason to give up.
      Object.assign(refusal, i >= 40 && i < 50 ? { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' } } : unavailable)
      await pipeline.add(writes(1, 100 + i, ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    expect(letters.taken).toEqual([])
    for (let i = 61; letters.taken.length === 0 && i <= 200; i++) {
      clock = i * 1000
      await pipeline.add(writes(1, 100 + i, ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    expect(letters.taken.map((l) => [l.envelope.reason, l.envelope.detail?.lastReason, l.envelope.replay?.value !== undefined])).toEqual([['retries-exhausted', 'es-unavailable', true]])
    // Its first attempt counted at 31 s or later: the letter came a minute after it.
    expect(clock).toBeGreaterThanOrEqual(91_000)
    pipeline.stop()
  })

  it('bounds what parked requests hold: past the queue\'s bytes, documents whose failure counted go at once', async () => {
    const cluster = elasticsearch({ status: 503, error: { type: 'unavailable_shards_exception', reason: '[opsreview-alerts-2026.12-000001][0] primary shard is not active' } })
    cluster.refused.add('alerts-2026.12')
    const letters = deadLetterTopic([])
    // A request per batch (two documents of about 125 bytes each), room for a few documents in the queue, and
    // an hour and ten attempts before any would go otherwise.
    const pipeline = new BulkPipeline({
      es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, concurrency: 1, flushBytes: 260, maxQueuedBytes: 600,
      minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 10, unavailableRetryMs: 3_600_000,
    })
    let most = 0
    for (let i = 0; i < 200; i++) {
      await pipeline.add(writes(0, i, ['alerts-2026.12', `refused-${i}`], ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 1))
      most = Math.max(most, pipeline.inFlight)
    }
    // Each parked request holds one refused document of ~120 bytes: the 600 are five of them, and one more
    // in its slot and a few parked before their next round finds the bound passed.
    expect(most).toBeLessThanOrEqual(12)
    expect(letters.taken.length).toBeGreaterThan(100)
    expect(new Set(letters.taken.map((l) => l.envelope.reason))).toEqual(new Set(['retries-exhausted']))
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    // Every refused document is written or dead-lettered (by its record's offset), none both, none neither.
    const lettered = letters.taken.map((l) => Number(l.envelope.origin.offset))
    const written = cluster.written.filter((id) => id.startsWith('refused-')).map((id) => Number(id.slice('refused-'.length)))
    expect([...lettered, ...written].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    // Every parked request written, the pressure is gone: refused again, documents wait out their attempts
    // and hour again. A parked request's bytes left counted would have them dead-lettered at once.
    const before = letters.taken.length
    cluster.refused.add('alerts-2026.12')
    for (let i = 0; i < 3; i++) {
      await pipeline.add(writes(1, i, ['alerts-2026.12', `later-${i}`], ['alerts-2026.11', `taken-later-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(letters.taken.length).toBe(before)
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(cluster.written).toEqual(expect.arrayContaining(['later-0', 'later-1', 'later-2']))
  })

  it('shows documents held back at their index in waiting from the first refusal, through an outage, whether their index refused them or could not be made', async () => {
    const denied = { type: 'security_exception', reason: 'action [indices:admin/create] is unauthorized for API key' }
    const cluster = elasticsearch({ status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized for API key' } })
    cluster.refused.add('alerts-2026.10')
    let down = false
    let unmade = true
    let clock = 1000
    const es = { bulk: (args: { operations: unknown[] }) => (down ? Promise.reject(new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')) : cluster.es.bulk(args)) } as unknown as Client
    const pipeline = new BulkPipeline({
      es, logger: pino({ level: 'silent' }), deadLetter: deadLetterTopic([]).deadLetter, minBackoffMs: 1, maxBackoffMs: 2, now: () => clock,
      // The new month's index cannot be made (no permission to create it) while the others take writes.
      prepare: async (indices) => {
        if (down) throw new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')
        if (unmade && indices.has('alerts-2026.12')) throw responseError(403, denied)
      },
    })
    await pipeline.add(writes(0, 0, ['alerts-2026.12', 'unmade'], ['alerts-2026.10', 'refused'], ['alerts-2026.11', 'taken']))
    const byIndex = () => [...pipeline.waiting].sort((a, b) => a.index.localeCompare(b.index))
    await until('both documents waiting', () => pipeline.waiting.reduce((n, w) => n + w.documents, 0) === 2)
    expect(byIndex()).toEqual([
      { code: 'es-refused', index: 'alerts-2026.10', documents: 1, partitions: { 'alerts/0': 1 }, since: 1000, error: 'action [indices:data/write/bulk[s]] is unauthorized for API key' },
      { code: 'es-refused', index: 'alerts-2026.12', documents: 1, partitions: { 'alerts/0': 1 }, since: 1000, error: denied.reason },
    ])
    // The refusal to make the index is no outage: it shows in waiting, not in failing.
    expect(pipeline.failing).toBeUndefined()
    // An outage (nothing written, the index cannot be made either): it shows in failing, and nothing in waiting.
    clock = 5000
    down = true
    await until('the outage', () => pipeline.failing?.code === 'es-unavailable' && pipeline.waiting.length === 0)
    // Over: refused again at their index, they show as waiting since their first refusal, not since the outage.
    clock = 9000
    down = false
    await until('both waiting again', () => pipeline.waiting.length === 2)
    expect(byIndex().map((w) => [w.index, w.since])).toEqual([['alerts-2026.10', 1000], ['alerts-2026.12', 1000]])
    unmade = false
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(pipeline.waiting).toEqual([])
    expect([...cluster.written].sort()).toEqual(['refused', 'taken', 'unmade'])
  })

  it('shows an index that cannot be made as an outage until Elasticsearch refuses it in so many words, then in waiting', async () => {
    // The lane's only documents are for a month whose index must be made: no bulk request goes out at all.
    let answer: 'none' | 'busy' | 'denied' = 'none'
    let clock = 1000
    const cluster = elasticsearch({ status: 500, error: { type: 'unused', reason: 'unused' } })
    const pipeline = new BulkPipeline({
      es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: deadLetterTopic([]).deadLetter, minBackoffMs: 1, maxBackoffMs: 2, now: () => clock,
      prepare: async (indices) => {
        if (!indices.has('alerts-2026.12')) return
        if (answer === 'none') throw new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')
        // A 503 is no word on the index: the master, or a proxy in front of a cluster that is down.
        if (answer === 'busy') throw responseError(503, { type: 'process_cluster_event_timeout_exception', reason: 'failed to process cluster event (create-index [alerts-2026.12]) within 30s' })
        throw responseError(400, { type: 'validation_exception', reason: 'Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1000]/[1000] maximum normal shards open;' })
      },
    })
    await pipeline.add(writes(0, 0, ['alerts-2026.12', 'a'], ['alerts-2026.12', 'b']))
    await until('the outage', () => pipeline.failing?.code === 'es-unavailable')
    expect(pipeline.waiting).toEqual([])
    clock = 3000
    answer = 'busy'
    await until('the 503', () => pipeline.failing?.error.startsWith('failed to process cluster event') === true)
    expect(pipeline.failing).toMatchObject({ since: 1000 })
    expect(pipeline.waiting).toEqual([])
    // Refused in so many words: the outage is over, and the documents wait at their index from now on.
    clock = 5000
    answer = 'denied'
    await until('the limit held back', () => pipeline.waiting.length === 1)
    expect(pipeline.failing).toBeUndefined()
    expect(pipeline.waiting).toEqual([{ code: 'es-refused', index: 'alerts-2026.12', documents: 2, partitions: { 'alerts/0': 2 }, since: 5000, error: expect.stringContaining('maximum normal shards open') }])
    pipeline.stop()
  })

  it('shows the making of one index failing for want of Elasticsearch as one steady outage, while other indices are written or refused', async () => {
    // A month rollover with the master busy: the new month's index times out, an old one is refused (a
    // permission), late records of the current month are written.
    let made = false
    let clock = 1000
    const cluster = elasticsearch({ status: 500, error: { type: 'unused', reason: 'unused' } })
    const letters = deadLetterTopic([])
    const pipeline = new BulkPipeline({
      es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 3, now: () => clock,
      prepare: async (indices) => {
        if (indices.has('alerts-2026.12') && !made) throw responseError(503, { type: 'process_cluster_event_timeout_exception', reason: 'failed to process cluster event (create-index [alerts-2026.12]) within 30s' })
        if (indices.has('alerts-2026.09') && !made) throw responseError(403, { type: 'security_exception', reason: 'action [indices:admin/create] is unauthorized for API key' })
      },
    })
    await pipeline.add(writes(0, 0, ['alerts-2026.12', 'new'], ['alerts-2026.09', 'old'], ['alerts-2026.11', 'current-0']))
    await until('the first round', () => pipeline.failing !== undefined && pipeline.waiting.length > 0)
    const seen: (string | undefined)[] = []
    for (let i = 1; i <= 40; i++) {
      clock = 1000 + i * 100
      // New records for the new month keep coming; the first ones run out of attempts (counted: the current
      // month is written meanwhile) and are dead-lettered: the outage of the index goes on all the same.
      await pipeline.add(writes(1, i, ['alerts-2026.11', `current-${i}`], ['alerts-2026.12', `new-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 3))
      const f = pipeline.failing
      seen.push(f && `${f.index} ${f.code} since ${f.since}`)
    }
    // Every look: the same outage, of that index, from its start; the refusal apart.
    expect(seen.every((f) => f === 'alerts-2026.12 es-unavailable since 1000')).toBe(true)
    expect(letters.taken.length).toBeGreaterThan(0)
    expect(pipeline.waiting).toMatchObject([{ code: 'es-refused', index: 'alerts-2026.09', documents: 1, since: 1000 }])
    // Made at last (and the permission granted): the outage is over once its documents are written.
    made = true
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(cluster.written).toContain('new-40')
    expect(pipeline.failing).toBeUndefined()
    pipeline.stop()
  })

  it('keeps the start of an index\'s outage when its documents are dead-lettered while the next one\'s first try is under way', async () => {
    let gate: Promise<void> | undefined
    let clock = 1000
    const letters = deadLetterTopic([])
    const pipeline = new BulkPipeline({
      es: elasticsearch({ status: 500, error: { type: 'unused', reason: 'unused' } }).es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter,
      minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 1, now: () => clock,
      prepare: async (indices) => {
        if (!indices.has('alerts-2026.12')) return
        if (gate) await gate
        throw responseError(503, { type: 'process_cluster_event_timeout_exception', reason: 'failed to process cluster event (create-index [alerts-2026.12]) within 30s' })
      },
    })
    await pipeline.add(writes(0, 0, ['alerts-2026.12', 'first']))
    await until('the outage', () => pipeline.failing?.since === 1000)
    // Another month written: the first document's next failure counts, and its one attempt is spent.
    await pipeline.add(writes(1, 1, ['alerts-2026.11', 'other']))
    await until('the first document dead-lettered', () => letters.taken.length === 1)
    // The next document's first try hangs on the master meanwhile: the outage goes on, from its start.
    let release!: () => void
    gate = new Promise((resolve) => { release = resolve })
    clock = 3000
    await pipeline.add(writes(0, 2, ['alerts-2026.12', 'next']))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(pipeline.failing).toMatchObject({ index: 'alerts-2026.12', since: 1000 })
    release()
    gate = undefined
    await until('the next try failed', () => (pipeline.failing?.attempts ?? 0) > 2)
    expect(pipeline.failing).toMatchObject({ index: 'alerts-2026.12', since: 1000 })
    pipeline.stop()
  })

  it('dead-letters a document Elasticsearch can never take at once, not after the retriable ones of its request', async () => {
    const cluster = elasticsearch({ status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized for API key' } })
    cluster.refused.add('alerts-2026.10')
    cluster.unmappable.add('unmappable')
    const letters = deadLetterTopic([])
    const logs = captureLogs()
    const pipeline = new BulkPipeline({ es: cluster.es, logger: logs.logger, deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 3 })
    await pipeline.add(writes(0, 0, ['alerts-2026.10', 'waiting'], ['alerts-2026.11', 'unmappable'], ['alerts-2026.11', 'taken']))
    // No other write comes: the waiting document's attempts never count, and it waits as long as the cause lasts.
    for (let i = 0; i < 100 && letters.taken.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(letters.taken.map((l) => [l.envelope.reason, l.envelope.origin.offset])).toEqual([['mapping-rejected', '0']])
    expect(cluster.written).toEqual(['taken'])
    expect(pipeline.offsets.uncommitted()).toEqual([])
    // The retry names the record, so that an operator knows which partition waits.
    expect(logs.lines.find((l) => l.msg === 'elasticsearch refused a document for a retriable reason; retrying')).toMatchObject({ id: 'waiting', topic: 'alerts', partition: 0, offset: '0' })
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    expect(cluster.written).toEqual(['taken', 'waiting'])
    expect(pipeline.offsets.uncommitted()).toEqual([{ topic: 'alerts', partition: 0, offset: '1' }])
    expect(letters.taken).toHaveLength(1)
  })

  // A write block, a flood stage on one index's node, and an old month closed to free heap: one index's
  // outage, the operator's to lift. Never poison, and never every write stalled.
  it.each([
    ['write-blocked', { status: 403, error: { type: 'cluster_block_exception', reason: 'index [alerts-2026.10] blocked by: [FORBIDDEN/8/index write (api)];' } }],
    ['flood-stage', { status: 429, error: { type: 'cluster_block_exception', reason: 'index [alerts-2026.10] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];' } }],
    ['closed', { status: 400, error: { type: 'index_closed_exception', reason: 'closed' } }],
  ])('keeps what one %s index refuses waiting while the others take writes, however the retries line up, and writes it once lifted', async (_kind, refusal) => {
    const cluster = elasticsearch(refusal)
    cluster.refused.add('alerts-2026.10')
    const letters = deadLetterTopic([])
    // One request per batch (two documents of about 125 bytes each) and one slot: a request retrying its
    // blocked document in that slot would leave no other write to go through. The clock never moves, and
    // far more rounds than maxItemAttempts go by: neither time nor attempts let a blocked document go.
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, concurrency: 1, flushBytes: 260, maxQueuedBytes: 20_000, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 3, now: () => 0 })
    const added = (batch: ReturnType<typeof writes>) => Promise.race([pipeline.add(batch), new Promise((_, reject) => setTimeout(() => reject(new Error('add held back: the pipeline takes no writes')), 1_000))])
    for (let i = 0; i < 20; i++) await added(writes(0, i, ['alerts-2026.10', `blocked-${i}`], ['alerts-2026.11', `taken-${i}`]))
    // Alerts for the open month keep coming, as they would, and are written meanwhile.
    for (let i = 0; i < 100; i++) {
      await added(writes(1, i, ['alerts-2026.11', `later-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await until('the open month written', () => cluster.written.includes('later-99'))
    for (let i = 0; i < 20; i++) expect(cluster.written).toContain(`taken-${i}`)
    // Until 2026-12-06: every blocked document dead-lettered as retries-exhausted after its 3 attempts.
    expect(letters.taken).toEqual([])
    expect(cluster.written.filter((id) => id.startsWith('blocked-'))).toEqual([])
    // Shown as held back at their index; the blocked partition commits nothing past its first record.
    expect(pipeline.waiting).toMatchObject([{ code: 'es-blocked', index: 'alerts-2026.10', documents: 20, partitions: { 'alerts/0': 20 } }])
    expect(pipeline.offsets.uncommitted().find((o) => o.partition === 0)).toBeUndefined()
    expect(pipeline.offsets.uncommitted()).toContainEqual({ topic: 'alerts', partition: 1, offset: '100' })
    cluster.refused.clear()
    expect(await pipeline.drain(5_000)).toBe(true)
    for (let i = 0; i < 20; i++) expect(cluster.written).toContain(`blocked-${i}`)
    expect(letters.taken).toEqual([])
    expect(pipeline.waiting).toEqual([])
    expect(pipeline.offsets.uncommitted()).toContainEqual({ topic: 'alerts', partition: 0, offset: '20' })
  })

  it('holds add back once what a blocked index refuses fills the queue\'s bytes, and lets it go when the block is lifted', async () => {
    const cluster = elasticsearch({ status: 403, error: { type: 'cluster_block_exception', reason: 'index [alerts-2026.10] blocked by: [FORBIDDEN/8/index write (api)];' } })
    cluster.refused.add('alerts-2026.10')
    const letters = deadLetterTopic([])
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, concurrency: 1, flushBytes: 260, maxQueuedBytes: 1_000, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 3 })
    // Each batch a blocked document and one the open month takes: only the blocked ones stay in memory.
    let held: Promise<boolean> | undefined
    let i = 0
    for (; i < 200 && !held; i++) {
      const add = pipeline.add(writes(0, i, ['alerts-2026.10', `blocked-${i}`], ['alerts-2026.11', `taken-${i}`]))
      if (!await Promise.race([add.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 50))])) held = add
    }
    // About 1,000 bytes of blocked documents of ~125 each, never all of the 200.
    expect(held).toBeDefined()
    expect(i).toBeLessThan(20)
    expect(letters.taken).toEqual([])
    cluster.refused.clear()
    expect(await Promise.race([held, new Promise((resolve) => setTimeout(() => resolve('still held'), 3_000))])).toBe(true)
    expect(await pipeline.drain(5_000)).toBe(true)
    for (let j = 0; j < i; j++) expect(cluster.written).toEqual(expect.arrayContaining([`blocked-${j}`, `taken-${j}`]))
    expect(letters.taken).toEqual([])
  })
})

/** What `@elastic/transport` throws for an error response: a `ResponseError` with the status and the body. */
const responseError = (statusCode: number, error: { type: string; reason: string }) =>
  Object.assign(new Error(error.reason), { name: 'ResponseError', meta: { statusCode, body: { error, status: statusCode } } })

/** An Elasticsearch that fails every bulk request holding `refusedId` with `refusal`, and takes every other one whole. */
function validatingElasticsearch(refusedId: string, refusal: Error) {
  const requests: string[][] = []
  const written: string[] = []
  const es = {
    bulk: async ({ operations }: { operations: unknown[] }) => {
      const ids = operations.filter((_, i) => i % 2 === 0).map((action) => (action as { index: { _id: string } }).index._id)
      requests.push(ids)
      if (ids.includes(refusedId)) throw refusal
      written.push(...ids)
      return { errors: false, items: ids.map(() => ({ index: { status: 201 } })) }
    },
  }
  return { es: es as unknown as Client, requests, written }
}

describe('BulkPipeline whole-request refusals', () => {
  it('writes every other document of a request Elasticsearch refuses whole for one of them, and dead-letters that one', async () => {
    // An external version below 0 (or an _id over 512 bytes) fails validation before any item runs.
    const refusal = responseError(400, { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: illegal version value [-1] for version type [EXTERNAL];' })
    const cluster = validatingElasticsearch('bad', refusal)
    const letters = deadLetterTopic([])
    const paused: string[] = []
    const breaker = createBackPressure({ logger: pino({ level: 'silent' }), pause: () => paused.push('pause'), resume: () => undefined })
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, guard: breaker.guard, concurrency: 1, minBackoffMs: 1, maxBackoffMs: 2 })
    const failing: unknown[] = []
    const bulk = cluster.es.bulk.bind(cluster.es) as (params: { operations: unknown[] }) => Promise<unknown>
    Object.assign(cluster.es, { bulk: (params: { operations: unknown[] }) => { if (pipeline.failing) failing.push(pipeline.failing); return bulk(params) } })
    // The first request goes alone; the other partitions' batches fill the next one, the refused document among them.
    await pipeline.add(writes(0, 0, ['alerts-2026.11', 'first']))
    const ids: string[] = []
    for (let partition = 1; partition <= 4; partition++) {
      const docs: [string, string][] = []
      for (let i = 0; i < 5; i++) docs.push(['alerts-2026.11', `p${partition}-${i}`])
      if (partition === 3) docs.splice(2, 0, ['alerts-2026.11', 'bad'])
      ids.push(...docs.map(([, id]) => id))
      await pipeline.add(writes(partition, 10 + partition, ...docs))
    }
    // Before, the request was retried whole for ever, as if Elasticsearch were down.
    expect(await pipeline.drain(3_000)).toBe(true)
    breaker.shutdown()
    expect(cluster.requests.some((r) => r.length > 2 && r.includes('bad'))).toBe(true)
    expect(cluster.written.sort()).toEqual(['first', ...ids.filter((id) => id !== 'bad')].sort())
    expect(letters.taken.map((l) => [l.envelope.reason, l.envelope.detail?.id, l.envelope.detail?.status])).toEqual([['document-rejected', 'bad', 400]])
    expect(letters.taken[0]!.envelope.origin).toEqual({ topic: 'alerts', partition: 3, offset: '13' })
    for (let partition = 0; partition <= 4; partition++) {
      expect(pipeline.offsets.uncommitted()).toContainEqual({ topic: 'alerts', partition, offset: String(partition === 0 ? 1 : 10 + partition + 1) })
    }
    // No outage: nothing in `failing`, and the breaker saw answers, not failures.
    expect(failing).toEqual([])
    expect(pipeline.failing).toBeUndefined()
    expect(paused).toEqual([])
  })

  it('dead-letters a document alone in a request refused whole (413: larger than http.max_content_length)', async () => {
    const cluster = validatingElasticsearch('huge', responseError(413, { type: 'status 413', reason: 'Request Entity Too Large' }))
    const letters = deadLetterTopic([])
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2 })
    await pipeline.add(writes(0, 0, ['alerts-2026.11', 'huge']))
    await pipeline.add(writes(0, 1, ['alerts-2026.11', 'next']))
    expect(await pipeline.drain(3_000)).toBe(true)
    expect(cluster.requests.filter((r) => r.includes('huge'))).toEqual([['huge']])
    expect(cluster.written).toEqual(['next'])
    expect(letters.taken.map((l) => l.envelope.reason)).toEqual(['document-rejected'])
    expect(pipeline.offsets.uncommitted()).toContainEqual({ topic: 'alerts', partition: 0, offset: '2' })
  })

  it('retries a whole request refused for a reason of the cluster or failing for an outage as it is: never split, never dead-lettered', async () => {
    const refusals = [
      responseError(403, { type: 'security_exception', reason: 'action [indices:data/write/bulk] is unauthorized for API key' }),
      responseError(401, { type: 'security_exception', reason: 'unable to authenticate with provided credentials' }),
      responseError(503, { type: 'unavailable_shards_exception', reason: 'primary shard is not active' }),
      responseError(429, { type: 'es_rejected_execution_exception', reason: 'rejected execution' }),
      responseError(403, { type: 'cluster_block_exception', reason: 'index [alerts-2026.11] blocked by: [FORBIDDEN/8/index write (api)];' }),
      Object.assign(new Error('Breaker is open'), { code: 'EOPENBREAKER' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9200'), { name: 'ConnectionError' }),
      // Not Elasticsearch's answer (a proxy's, for a wrong URL): no verdict on the documents.
      Object.assign(new Error('Not Found'), { name: 'ResponseError', meta: { statusCode: 404, body: '<html>Not Found</html>' } }),
      Object.assign(new Error('Bad Request'), { name: 'ResponseError', meta: { statusCode: 400, body: { message: 'bad gateway config' } } }),
    ]
    for (const refusal of refusals) {
      const cluster = validatingElasticsearch('refused', refusal)
      const letters = deadLetterTopic([])
      const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2 })
      await pipeline.add(writes(0, 0, ['alerts-2026.11', 'refused'], ['alerts-2026.11', 'other-0'], ['alerts-2026.11', 'other-1']))
      while (cluster.requests.length < 5) await new Promise((resolve) => setTimeout(resolve, 5))
      expect(pipeline.failing).toMatchObject({ attempts: expect.any(Number) as number })
      pipeline.stop()
      expect(await pipeline.drain(1_000)).toBe(true)
      expect(cluster.requests.every((r) => r.length === 3)).toBe(true)
      expect(cluster.written).toEqual([])
      expect(letters.taken).toEqual([])
      expect(pipeline.offsets.uncommitted()).toEqual([])
    }
  })
})

describe('BulkPipeline on a wall clock that steps back (NTP)', () => {
  /** Date.now an hour behind from `stepAt()` on (once it says a time), as after an NTP step back; restored when the test ends. */
  function stepBackAnHour(stepAt: () => number | undefined) {
    const realNow = Date.now.bind(Date)
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => {
      const t = realNow()
      const at = stepAt()
      return at !== undefined && t >= at ? t - 3_600_000 : t
    })
    onTestFinished(() => { spy.mockRestore() })
  }
  /** What `holds` says within `ms` of real time (timers, which no step of the wall clock moves). */
  async function within(ms: number, holds: () => boolean): Promise<boolean> {
    for (let waited = 0; waited < ms && !holds(); waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
    return holds()
  }

  it('ends a retry\'s back-off on time when the clock steps back an hour meanwhile', async () => {
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9200'), { name: 'ConnectionError' })
    let failedAt: number | undefined
    const written: string[] = []
    const es = {
      bulk: async ({ operations }: { operations: unknown[] }) => {
        // The first request fails for an outage: its back-off (300 to 600 ms) begins, and 100 ms into it the clock steps back.
        if (failedAt === undefined) { failedAt = performance.now(); throw outage }
        written.push(...operations.filter((_, i) => i % 2 === 0).map((a) => (a as { index: { _id: string } }).index._id))
        return { errors: false, items: [{ index: { status: 201 } }] }
      },
    } as unknown as Client
    const realStart = Date.now()
    const startPerf = performance.now()
    stepBackAnHour(() => (failedAt === undefined ? undefined : realStart + (failedAt - startPerf) + 100))
    const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async () => undefined, minBackoffMs: 600, maxBackoffMs: 600 })
    onTestFinished(() => { pipeline.stop() })
    await pipeline.add(writes(0, 0, ['alerts-2026.11', 'a']))
    // Before the fix the retry waited for the hour the clock went back as well.
    expect(await within(3_000, () => written.includes('a'))).toBe(true)
  })

  it('keeps retrying a document its index refuses with a 503 for unavailableRetryMs when the clock steps an hour forward meanwhile', async () => {
    const cluster = elasticsearch({ status: 503, error: { type: 'unavailable_shards_exception', reason: '[opsreview-incidents-000001][0] primary shard is not active' } })
    cluster.refused.add('incidents')
    const letters = deadLetterTopic([])
    let stepped = false
    const realNow = Date.now.bind(Date)
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (stepped ? 3_600_000 : 0))
    onTestFinished(() => { spy.mockRestore() })
    const pipeline = new BulkPipeline({ es: cluster.es, logger: pino({ level: 'silent' }), deadLetter: letters.deadLetter, minBackoffMs: 1, maxBackoffMs: 2, maxItemAttempts: 2, unavailableRetryMs: 60_000 })
    onTestFinished(() => { pipeline.stop() })
    await pipeline.add(writes(0, 0, ['incidents', 'recovering'], ['alerts-2026.11', 'taken-0']))
    await until('the other document written', () => cluster.written.includes('taken-0'))
    stepped = true
    // Far more than maxItemAttempts rounds, in a few real seconds of the minute it is owed.
    for (let i = 1; i <= 30; i++) {
      await pipeline.add(writes(1, i, ['alerts-2026.11', `taken-${i}`]))
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    // Before the fix the hour the clock went forward counted as an hour of retries: dead-lettered at once.
    expect(letters.taken).toEqual([])
  })

  it('gives up draining at its timeout when the clock steps back an hour meanwhile', async () => {
    // Elasticsearch never answers: only the timeout ends the drain.
    const es = { bulk: () => new Promise(() => undefined) } as unknown as Client
    const startPerf = performance.now()
    const realStart = Date.now()
    stepBackAnHour(() => realStart + 100)
    const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async () => undefined })
    onTestFinished(() => { pipeline.stop() })
    await pipeline.add(writes(0, 0, ['alerts-2026.11', 'a']))
    let drained: boolean | undefined
    void pipeline.drain(500).then((d) => { drained = d })
    // Before the fix a shutdown's drain went on for the hour the clock went back as well.
    expect(await within(3_000, () => drained !== undefined)).toBe(true)
    expect(drained).toBe(false)
    expect(performance.now() - startPerf).toBeLessThan(3_000)
  })
})
