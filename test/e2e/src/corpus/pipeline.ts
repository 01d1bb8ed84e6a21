/**
 * Driving a running pipeline with a corpus: post it through the receiver in one burst, wait until the
 * correlator and the indexer have all of it, read the incidents and problems back from Elasticsearch.
 * Used by the corpus e2e test and by `corpus:score` (main.ts) against any running pipeline.
 */
import type { Client } from '@elastic/elasticsearch'
import type { Kafka } from 'kafkajs'
import { latestByKey, readTopicToEnd, waitFor } from '@opsreview/testing'
import type { Delivery, Sender } from './corpus.ts'
import type { ScoredIncident, ScoredProblem } from './score.ts'

export interface BurstResult {
  /** Distinct events the receiver put on Kafka (it answers how many it published, and drops repeats by id). */
  events: number
  requests: number
  ms: number
}

/**
 * Posts every delivery as fast as the receiver takes them: each sender's requests one after another in
 * the order given, the three senders at once. A request refused (anything but 2xx) fails the burst.
 */
export async function postBurst(receiverUrl: string, token: string, order: readonly Delivery[]): Promise<BurstResult> {
  const started = performance.now()
  let published = 0
  const spooledIds = new Set<string>()
  const sender = async (which: Sender) => {
    for (const d of order.filter((x) => x.sender === which)) {
      const res = await fetch(`${receiverUrl}${d.path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(d.body) })
      const answer = await res.json() as { published?: number; ids?: string[] }
      if (!res.ok) throw new Error(`${d.path} answered ${res.status}: ${JSON.stringify(answer).slice(0, 500)}`)
      if (which === 'alertmanager') published += answer.published ?? 0
      else for (const id of answer.ids ?? []) spooledIds.add(id)
    }
  }
  await Promise.all((['alertmanager', 'pingdom', 'report'] as const).map(sender))
  return { events: published + spooledIds.size, requests: order.length, ms: Math.round(performance.now() - started) }
}

export interface PipelineNames {
  alertsAlias: string
  incidentsAlias: string
  problemsAlias: string
  inputTopic: string
  incidentsTopic: string
  problemsTopic: string
  /** The correlator's engine consumer group (`OPSREVIEW_CORRELATOR_GROUP` + `-engine`). */
  engineGroup: string
}

/** Every document of an index: a corpus's incidents and problems stay far below one page of 10,000. */
async function searchAll<T>(es: Client, index: string): Promise<T[]> {
  await es.indices.refresh({ index })
  const res = await es.search<T>({ index, size: 10_000, track_total_hits: true })
  const total = typeof res.hits.total === 'number' ? res.hits.total : res.hits.total?.value ?? 0
  if (total > res.hits.hits.length) throw new Error(`${index} holds ${total} documents, more than one page`)
  return res.hits.hits.map((h) => h._source!)
}

/**
 * Waits until the pipeline has everything: `events` alerts indexed, every one of them on the engine's
 * input and behind its committed offsets (the correlator commits only once its outputs are on Kafka),
 * and the indexed incidents and problems equal to the last versions on their topics, unchanged for
 * `stableMs`. Returns them.
 */
export async function settled(kafka: Kafka, es: Client, names: PipelineNames, events: number, timeoutMs = 150_000, stableMs = 45_000): Promise<{ incidents: ScoredIncident[]; problems: ScoredProblem[] }> {
  await waitFor(async () => {
    await es.indices.refresh({ index: names.alertsAlias })
    return (await es.count({ index: names.alertsAlias })).count >= events ? true : undefined
  }, { timeoutMs, intervalMs: 500, what: `${events} alerts in ${names.alertsAlias}` })
  const lastAlert = await waitFor(async () => {
    const last = new Map<number, bigint>()
    let alerts = 0
    for (const m of await readTopicToEnd(kafka, names.inputTopic)) {
      if (!m.value.startsWith('{"type":"alert"')) continue
      alerts++
      last.set(m.partition, BigInt(m.offset))
    }
    return alerts >= events ? last : undefined
  }, { timeoutMs, intervalMs: 500, what: `${events} alerts on ${names.inputTopic}` })
  const admin = kafka.admin()
  await admin.connect()
  try {
    await waitFor(async () => {
      const [committed] = await admin.fetchOffsets({ groupId: names.engineGroup, topics: [names.inputTopic] })
      const behind = [...lastAlert].filter(([p, offset]) => BigInt(committed!.partitions.find((x) => x.partition === p)?.offset ?? '-1') <= offset)
      return behind.length === 0 ? true : undefined
    }, { timeoutMs, intervalMs: 500, what: 'the correlator to commit past the last alert' })
  } finally {
    await admin.disconnect()
  }
  // A backlog is held by the engine (committed with its state) until a tick finds it drained
  // with 30 s of quiet (docs/correlation-event-time.md, "The late-event rule"): the outputs are final once
  // they stop changing for longer than that and a few tick intervals.
  let seen: string | undefined
  let since = 0
  return waitFor(async () => {
    const [topicIncidents, topicProblems] = await Promise.all([latestByKey<ScoredIncident & { version: number }>(kafka, names.incidentsTopic), latestByKey<ScoredProblem & { version: number }>(kafka, names.problemsTopic)])
    const [incidents, problems] = await Promise.all([searchAll<ScoredIncident & { version: number }>(es, names.incidentsAlias), searchAll<ScoredProblem & { version: number }>(es, names.problemsAlias).catch(() => [])])
    const same = <T extends { id: string; version: number }>(topic: Map<string, T>, indexed: T[]) =>
      topic.size === indexed.length && indexed.every((d) => topic.get(d.id)?.version === d.version)
    if (!same(topicIncidents, incidents) || !same(topicProblems, problems)) return undefined
    const versions = [...incidents, ...problems].map((d) => `${d.id}@${d.version}`).sort().join(',')
    if (versions !== seen) { seen = versions; since = Date.now(); return undefined }
    return Date.now() - since >= stableMs ? { incidents, problems } : undefined
  }, { timeoutMs, intervalMs: 1000, what: 'the indexed incidents and problems to equal their topics, unchanged for a while' })
}
