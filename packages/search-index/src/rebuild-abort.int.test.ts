import http from 'node:http'
import { once } from 'node:events'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel, type ConsumerConfig } from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { captureLogs, elasticsearchUrl, waitFor } from '@opsreview/testing'
import { rebuildFromKafka } from './rebuild.ts'
import { ensureIndices, indexNames, liveAlertMonths } from './templates.ts'
import { indexerTopicsOfTest } from './test-topics.ts'

/**
 * An HTTP proxy in front of Elasticsearch that holds, unanswered, the requests `hold` picks (by method, URL
 * and body) until `release` sends them on; it notes each request as it arrives.
 */
async function holdingProxy(hold: (method: string, url: string, body: Buffer) => boolean) {
  const held: { method: string; url: string; send: () => Promise<void>; refuse: () => void }[] = []
  const arrived: { method: string; url: string; whileHeld: string[] }[] = []
  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => new Promise<void>((resolve) => {
    const upstream = http.request(new URL(req.url!, elasticsearchUrl), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(res)
      answer.on('end', () => resolve())
    })
    upstream.on('error', () => { res.destroy(); resolve() })
    upstream.end(body)
  })
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const method = req.method!
      const url = req.url!
      arrived.push({ method, url, whileHeld: held.map((h) => `${h.method} ${h.url}`) })
      const refuse = () => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { type: 'search_phase_execution_exception', reason: 'all shards failed' }, status: 500 }))
      }
      if (hold(method, url, body)) held.push({ method, url, send: () => forward(req, body, res), refuse })
      else void forward(req, body, res)
    })
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  onTestFinished(() => { proxy.closeAllConnections(); proxy.close() })
  return {
    url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    arrived,
    held: (pick: (h: { method: string; url: string }) => boolean) => held.filter(pick).length,
    /** Answers the held requests `pick` picks with a 500 of Elasticsearch's form, not sending them on. */
    fail: (pick: (h: { method: string; url: string }) => boolean) => {
      for (const h of held.filter(pick)) {
        held.splice(held.indexOf(h), 1)
        h.refuse()
      }
    },
    /** Sends on the held requests `pick` picks; resolves once Elasticsearch has answered them. */
    release: async (pick: (h: { method: string; url: string }) => boolean) => {
      const going = held.filter(pick)
      for (const h of going) held.splice(held.indexOf(h), 1)
      await Promise.all(going.map((h) => h.send()))
    },
  }
}

const isCopy = (method: string, url: string, body: Buffer) => method === 'POST' && url.includes('_bulk') && body.subarray(0, 64).toString().startsWith('{"create"')
const isScroll = (url: string) => url.startsWith('/_search/scroll')

describe('a rebuild ended while it carries alert documents over', () => {
  it.each(['cancelled', 'cancelled, its copy request then failing', 'its scroll failing'] as const)('%s, deletes the fresh indices only once the carry-over\'s bulk requests under way are answered: one answered after the delete made its index again', { timeout: 120_000 }, async (ending) => {
    const { kafka, admin, run, topics, es } = await indexerTopicsOfTest('rebuild-abort-copy', 1)
    await ensureIndices(es, run)
    const n = indexNames(run)

    // The alert log lost its one record to retention: every alert document older than the rebuild is carried over.
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: topics.alerts, acks: -1, messages: [{ key: 'k', value: '{}' }] })
    await producer.disconnect()
    await waitFor(() => admin.deleteTopicRecords({ topic: topics.alerts, partitions: [{ partition: 0, offset: '1' }] }).then(() => true), { what: 'the alert record deleted' })

    // More than a scroll page (2000) of old alert documents, the first page over the copy's 5 MB flush: a bulk
    // request of the copy is under way while it waits for the next page.
    const at = '2026-10-15T00:00:00.000Z'
    const month = n.alerts.indexFor(at)
    await liveAlertMonths(es, run).prepare(new Set([month]))
    const pad = 'x'.repeat(3000)
    const docs = Array.from({ length: 2100 }, (_, i) => ({
      id: i.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${i}`, status: 'firing', severity: 'warning', service: 's', environment: 'production',
      title: `a${i} ${pad}`, labels: { alertname: 'A' }, startsAt: at, receivedAt: at, eventAt: at, links: [], origin: {},
    }))
    for (let i = 0; i < docs.length; i += 500) {
      const r = await es.bulk({ refresh: true, operations: docs.slice(i, i + 500).flatMap((d) => [{ index: { _index: month, _id: d.id } }, d]) })
      expect(r.errors).toBe(false)
    }
    const indices = async () => Object.keys(await es.indices.get({ index: `${run}-*`, expand_wildcards: 'all' })).sort()
    const liveIndices = await indices()

    // The copy's bulk requests are held, and its next scroll page: the signal comes then.
    let holdScrolls = true
    const proxy = await holdingProxy((method, url, body) => isCopy(method, url, body) || (holdScrolls && isScroll(url)))
    const proxied = new Client({ node: proxy.url })
    onTestFinished(() => proxied.close())
    const logs = captureLogs()
    const controller = new AbortController()
    const rebuilding = rebuildFromKafka({ kafka, es: proxied, prefix: run, topics, logger: logs.logger, signal: controller.signal })
    const settled = rebuilding.then(() => 'resolved', (err: unknown) => err)
    await Promise.race([
      waitFor(() => (proxy.held((h) => h.url.includes('_bulk')) > 0 && proxy.held((h) => isScroll(h.url)) > 0 ? true : undefined), { what: 'a copy request and the next scroll page held', timeoutMs: 60_000 }),
      settled.then((r) => { throw new Error(`the rebuild ended before its copy was under way: ${String(r)}`) }),
    ])
    holdScrolls = false
    const cancelled = ending !== 'its scroll failing'
    if (cancelled) {
      controller.abort()
      await proxy.release((h) => isScroll(h.url))
    } else {
      proxy.fail((h) => isScroll(h.url))
    }
    // Now either the fresh indices are deleted at once, the copy's request still unanswered, or the rebuild
    // waits for that request: then the copy says so.
    const deleting = () => proxy.arrived.some((a) => a.method === 'DELETE' && !isScroll(a.url))
    const waits = cancelled ? 'rebuild: carry-over cancelled: waiting for its bulk requests under way' : 'rebuild: carry-over failed reading: waiting for its bulk requests under way'
    await waitFor(() => (deleting() || logs.lines.some((l) => l.msg === waits) ? true : undefined), { what: 'the delete or the wait for the copy', lastSeen: () => JSON.stringify({ arrived: proxy.arrived.map((a) => `${a.method} ${a.url.slice(0, 60)}`), logs: logs.lines.map((l) => l.msg) }) })
    // A copy request that fails after the cancel (a 500, a timeout) still ends as the cancel: told as a failure,
    // the command said the aliases were not moved for another reason, and exited 69 or 70, not 128 + n.
    if (ending === 'cancelled, its copy request then failing') proxy.fail((h) => h.url.includes('_bulk'))
    await proxy.release(() => true)
    const outcome = await settled

    if (cancelled) expect(outcome).toBe(controller.signal.reason)
    else expect(String(outcome)).toContain('search_phase_execution_exception')
    expect(await indices()).toEqual(liveIndices)
    expect(proxy.arrived.filter((a) => a.method === 'DELETE' && !isScroll(a.url)).map((a) => a.whileHeld)).toEqual([[]])
  })
})

describe('a rebuild cancelled while it replays the log', () => {
  it('rejects with the signal\'s reason when Kafka is gone by the time its throwaway group is deleted: a Ctrl-C, not a Kafka failure', { timeout: 120_000 }, async () => {
    const { kafka, run, topics, es } = await indexerTopicsOfTest('rebuild-abort-replay', 1)
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: topics.incidents, acks: -1, messages: [{ key: 'k', value: '{}' }] })
    await producer.disconnect()

    // The real broker until the signal; after it, Kafka is gone (a closed port, no retries): the operator
    // pressed Ctrl-C because the rebuild hung on an outage, or the broker went meanwhile.
    const controller = new AbortController()
    const gone = new Kafka({ clientId: run, brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const kafkaThenGone = {
      admin: () => (controller.signal.aborted ? gone.admin() : kafka.admin()),
      producer: () => kafka.producer(),
      consumer: (config: ConsumerConfig) => {
        const consumer = kafka.consumer(config)
        const start = consumer.run.bind(consumer)
        // The signal comes once the replay's consumer runs.
        consumer.run = async (config) => { await start(config); controller.abort() }
        return consumer
      },
    } as unknown as Kafka
    const logs = captureLogs()
    const outcome = await rebuildFromKafka({ kafka: kafkaThenGone, es, prefix: run, topics, logger: logs.logger, signal: controller.signal }).then(() => 'resolved', (err: unknown) => err)
    expect(outcome).toBe(controller.signal.reason)
  })
})
