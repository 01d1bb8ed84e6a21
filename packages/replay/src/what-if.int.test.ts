import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import { overriddenConfigOf } from '@opsreview/correlation/settings'
import type { AlertEvent, Command, EngineOutput, Incident, Problem } from '@opsreview/correlation/types'
import { incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames } from '@opsreview/search-index/templates'
import { captureLogs, createReadyTopics, esClient, kafkaClient, uniqueName } from '@opsreview/testing'
import type { Client } from '@elastic/elasticsearch'
import { dropDataset, listDatasets } from './dataset.ts'
import { renderReport } from './report.ts'
import { loadRules } from './rules.ts'
import { whatIf } from './what-if.ts'

const MIN = 60_000
// Whole minutes, a few hours back: the range lies in the past, as a replay's always does.
const T0 = Math.floor((Date.now() - 8 * 60 * MIN) / MIN) * MIN
const at = (minute: number) => new Date(T0 + minute * MIN).toISOString()
const range = { fromMs: T0, toMs: T0 + 6 * 60 * MIN }

let seq = 0
// Receiver ids are 32 hex digits of a hash: these are too, so nothing downstream sees look-alike ids.
const eventId = (n: number) => createHash('md5').update(`replay-scenario-${n}`).digest('hex')
/** One firing and its resolve, received when they happened. */
function alert(fingerprint: string, service: string, labels: Record<string, string>, fire: number, resolve: number): AlertEvent[] {
  const base = {
    source: 'alertmanager' as const, fingerprint, severity: 'critical' as const, service, environment: 'production',
    title: `${labels.alertname} on ${service}`, labels: { ...labels, service }, links: [], origin: {},
  }
  return [
    { ...base, id: eventId(++seq), status: 'firing', startsAt: at(fire), receivedAt: at(fire) },
    { ...base, id: eventId(++seq), status: 'resolved', startsAt: at(fire), endsAt: at(resolve), receivedAt: at(resolve) },
  ]
}

/**
 * The labelled set, grouped live by service (the default) and replayed by namespace with a 1 h reopen
 * window. What each part does under the two configurations (minutes after T0):
 *  A  checkout and payments in namespace shop, 10–30 and 12–40: live 2 incidents, replay 1 (merged).
 *  B  search in namespaces eu and us, 60–70 and 62–75: live 1, replay 2 (split).
 *  C  billing alone, 100–110: the same in both (unchanged).
 *  D  QueueLag on queue three times, 120–125, 170–175, 220–225: live 3 incidents (each re-fire past the
 *     30 min reopen window) and a recurring problem; replay 1 reopened incident (merged), no problem (lost),
 *     and that incident's member counts as firing from 120 to 225 (+90 min downtime for queue).
 *  E  mail in namespace mail-a 240–300, mail in namespace mx with host=h9 254–300, dns in namespace dns with
 *     host=h9 255–300: live mail {m1, m2} (opened at 240, 15 min before dns: no shared cause) and dns {n1};
 *     replay {m1}, {m2} and {n1}, which opens two incidents of two services on host=h9 a minute apart: a
 *     shared-cause problem (found). One split; dns unchanged. (Two services in one incident share nothing
 *     with each other: a shared cause needs two incidents.)
 */
const events: AlertEvent[] = [
  ...alert('a1', 'checkout', { alertname: 'CheckoutErrors', namespace: 'shop' }, 10, 30),
  ...alert('a2', 'payments', { alertname: 'PaymentsErrors', namespace: 'shop' }, 12, 40),
  ...alert('b1', 'search', { alertname: 'SearchDown', namespace: 'eu' }, 60, 70),
  ...alert('b2', 'search', { alertname: 'SearchDown', namespace: 'us' }, 62, 75),
  ...alert('c1', 'billing', { alertname: 'BillingLag', namespace: 'billing' }, 100, 110),
  ...alert('d1', 'queue', { alertname: 'QueueLag', namespace: 'q' }, 120, 125),
  ...alert('d1', 'queue', { alertname: 'QueueLag', namespace: 'q' }, 170, 175),
  ...alert('d1', 'queue', { alertname: 'QueueLag', namespace: 'q' }, 220, 225),
  ...alert('m1', 'mail', { alertname: 'MailQueue', namespace: 'mail-a' }, 240, 300),
  ...alert('m2', 'mail', { alertname: 'MailBounce', namespace: 'mx', host: 'h9' }, 254, 300),
  ...alert('n1', 'dns', { alertname: 'DnsTimeout', namespace: 'dns', host: 'h9' }, 255, 300),
]
const eventTime = (e: AlertEvent) => Date.parse(e.status === 'resolved' ? e.endsAt! : e.startsAt)

/** Indexes a live run's incidents and problems under `prefix`, as the indexer indexes the correlator's outputs. */
async function indexLive(es: Client, prefix: string, live: { incidents: Map<string, Incident>; problems: Map<string, Problem> }): Promise<void> {
  await ensureIndices(es, prefix)
  const n = indexNames(prefix)
  const operations = [
    ...[...live.incidents.values()].map((i) => incidentDocument(n.incidents.alias)(JSON.stringify(i))),
    ...[...live.problems.values()].map((p) => problemDocument(n.problems.alias)(JSON.stringify(p))),
  ].flatMap((op) => [{ index: { _index: op.index, _id: op.id } }, JSON.parse(op.document) as unknown])
  const r = await es.bulk({ operations, refresh: true })
  expect(r.errors).toBe(false)
}

/** The live run as the indexer keeps it: the newest version of each incident and problem the engine put out. */
function liveCollector() {
  const live = { incidents: new Map<string, Incident>(), problems: new Map<string, Problem>() }
  const take = (outs: EngineOutput[]) => {
    for (const o of outs) {
      if (o.type === 'incident') live.incidents.set(o.incident.id, o.incident)
      if (o.type === 'problem') live.problems.set(o.problem.id, o.problem)
    }
  }
  return { live, take }
}

/** The clients a describe block uses, and its alert and command topics, made. */
async function openClients(topics: { alerts: string; commands: string }): Promise<{ kafka: Kafka; admin: Admin; es: Client }> {
  const kafka = kafkaClient()
  const es = esClient()
  const admin = kafka.admin()
  await admin.connect()
  await createReadyTopics(admin, [{ topic: topics.alerts, numPartitions: 3 }, { topic: topics.commands, numPartitions: 3 }])
  return { kafka, admin, es }
}

/** Deletes the topics and the indices under `prefixes` that a describe block made, and closes its clients. */
async function closeClients(c: { admin?: Admin; es?: Client }, topics: { alerts: string; commands: string }, prefixes: readonly string[]): Promise<void> {
  await c.admin?.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
  await c.admin?.disconnect()
  for (const prefix of prefixes) {
    await c.es?.indices.delete({ index: `${prefix}*`, expand_wildcards: 'all' }).catch(() => undefined)
    await c.es?.indices.deleteIndexTemplate({ name: `${prefix}*` }).catch(() => undefined)
  }
  await c.es?.close()
}

describe('what-if replay on the real Kafka and Elasticsearch', () => {
  let kafka: Kafka
  let admin: Admin
  let producer: Producer
  let es: Client
  const topics = { alerts: uniqueName('replay-alerts'), commands: uniqueName('replay-commands') }
  const prefix = uniqueName('replaytest')
  let live: { incidents: Map<string, Incident>; problems: Map<string, Problem> }
  const commands: { command: Command; at: number }[] = []

  beforeAll(async () => {
    ({ kafka, admin, es } = await openClients(topics))
    producer = kafka.producer()
    await producer.connect()

    // "Live": the engine with the default configuration over the events in event-time order, as the
    // correlator would have run, indexed as the indexer indexes its outputs.
    const engine = new CorrelationEngine()
    const collected = liveCollector()
    live = collected.live
    const take = collected.take
    const ordered = [...events].sort((a, b) => eventTime(a) - eventTime(b))
    const cIncident = () => [...live.incidents.values()].find((i) => i.services.includes('billing'))!
    const paymentsIncident = () => [...live.incidents.values()].find((i) => i.services.includes('payments'))!
    for (const e of ordered) {
      take(engine.apply({ type: 'alert', event: e }))
      // Two decisions at 115: one on billing's incident (it exists in the replay too), one on payments'
      // incident (merged away in the replay, so the replayed engine refuses it).
      if (e.fingerprint === 'c1' && e.status === 'resolved') {
        for (const [target, id] of [[cIncident().id, 'cmd-billing'], [paymentsIncident().id, 'cmd-payments']] as const) {
          const command: Command = { id, type: 'incident.assign', target, environment: 'production', actor: 'dana', owner: 'erin', at: at(115) }
          commands.push({ command, at: T0 + 115 * MIN })
          take(engine.apply({ type: 'command', command }))
        }
      }
    }
    take(engine.apply({ type: 'tick', at: new Date(range.toMs).toISOString() }))

    await indexLive(es, prefix, live)

    // The retained log: every record stamped with its receipt, keyed by fingerprint over three partitions.
    await producer.send({ topic: topics.alerts, messages: events.map((e) => ({ key: e.fingerprint, value: JSON.stringify(e), timestamp: String(Date.parse(e.receivedAt)) })) })
    await producer.send({ topic: topics.commands, messages: commands.map((c) => ({ key: c.command.environment, value: JSON.stringify(c.command), timestamp: String(c.at) })) })
  })

  afterAll(async () => {
    await producer?.disconnect()
    await closeClients({ admin, es }, topics, [prefix])
  })

  it('the live incidents are what the scenario says', () => {
    expect(live.incidents.size).toBe(9)
    expect([...live.problems.values()].map((p) => [p.kind, p.title])).toEqual([['recurring', 'QueueLag keeps recurring on queue']])
  })

  it('replayed with the live configuration, nothing changes', async () => {
    const { logger } = captureLogs()
    const report = await whatIf({ kafka, es, logger, topics, indexPrefix: prefix, ...range, engineConfig: {}, groupId: uniqueName('replay') })
    expect(report.replay).toMatchObject({ alerts: events.length, commands: 2, commandsRefused: 0, invalid: 0 })
    expect(report.comparison.incidents).toMatchObject({ live: 9, replay: 9, delta: 0, unchanged: 9, merged: [], split: [], onlyLive: [], onlyReplay: [] })
    expect(report.comparison.problems).toMatchObject({ live: 1, replay: 1, found: [], lost: [], kept: 1 })
    expect(report.comparison.availability.every((a) => a.deltaDowntimeMs === 0)).toBe(true)
  })

  it('grouped by namespace with a 1 h reopen window: the exact merges, splits, problems and downtime; nothing live written', async () => {
    const counts = async () => ({
      offsets: await Promise.all(Object.values(topics).map((t) => admin.fetchTopicOffsets(t))),
      incidents: (await es.count({ index: indexNames(prefix).incidents.alias })).count,
      problems: (await es.count({ index: indexNames(prefix).problems.alias })).count,
      groups: (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('replay-group-')),
    })
    const dir = mkdtempSync(path.join(tmpdir(), 'replay-rules-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'by-namespace.yaml')
    writeFileSync(file, 'version: 1\ngroupBy:\n  default: [labels.namespace]\n')
    const rules = loadRules(file)
    const before = await counts()
    const groupId = uniqueName('replay-group')
    const { logger } = captureLogs()
    const report = await whatIf({
      kafka, es, logger, topics, indexPrefix: prefix, ...range,
      engineConfig: { ...overriddenConfigOf({ OPSREVIEW_REOPEN_WINDOW: 60 * MIN }), ...rules.engineConfig }, relabel: rules.relabel, rules: rules.file,
      groupId, dataset: 'ns', settings: { OPSREVIEW_REOPEN_WINDOW: 60 * MIN },
    })
    const c = report.comparison
    const ids = (refs: { id: string }[]) => refs.map((r) => r.id)
    const liveOf = (service: string) => [...live.incidents.values()].filter((i) => i.services.includes(service)).map((i) => i.id)

    expect(report.replay).toMatchObject({ alerts: events.length, commands: 2, commandsRefused: 1, invalid: 0 })
    expect(c.incidents).toMatchObject({ live: 9, replay: 8, delta: -1, unchanged: 2, onlyLive: [], onlyReplay: [] })
    expect(c.incidents.merged.map((m) => ids(m.live).sort())).toEqual([
      [...liveOf('checkout'), ...liveOf('payments')].sort(),
      liveOf('queue').sort(),
    ])
    expect(c.incidents.split.map((s) => [s.live.id, s.replay.length])).toEqual([[liveOf('search')[0], 2], [liveOf('mail')[0], 2]])
    expect(c.problems).toMatchObject({ live: 1, replay: 1, kept: 0 })
    expect(c.problems.lost.map((p) => p.title)).toEqual(['QueueLag keeps recurring on queue'])
    expect(c.problems.found.map((p) => [p.kind, p.signature])).toEqual([['shared-cause', '{"kind":"shared-cause","environment":"production","label":"host","value":"h9"}']])
    // Grouping and windows do not change when the alerts fired: queue's three 5-minute lags are 15 minutes
    // in both, though the replay holds them in one incident reopened twice, 105 minutes from first to last.
    expect(c.availability.map((a) => [a.service, a.liveDowntimeMs / MIN, a.replayDowntimeMs / MIN])).toEqual([
      ['billing', 10, 10], ['checkout', 20, 20], ['dns', 45, 45], ['mail', 60, 60], ['payments', 28, 28], ['queue', 15, 15], ['search', 15, 15],
    ])
    expect(c.availability.find((a) => a.service === 'queue')).toMatchObject({ deltaDowntimeMs: 0, liveAvailabilityPct: 95.83, replayAvailabilityPct: 95.83, deltaPct: 0 })

    const text = renderReport(report)
    expect(text).toContain('Incidents opened in the range: live 9, replay 8 (−1)\n  among incidents open in it (opened before it too): unchanged 2, merged 2, split 2, only live 0, only replay 0\n')
    expect(text).toContain('Problems seen in the range: live 1, replay 1; found 1, lost 1, kept 0\n')

    // The dataset holds the replay; the live topics, indices and groups are as they were.
    expect(report.dataset).toMatchObject({ dataset: 'ns', incidents: { alias: `${prefix}-whatif-ns-incidents`, count: 8 }, problems: { alias: `${prefix}-whatif-ns-problems`, count: 1 } })
    expect((await es.count({ index: `${prefix}-whatif-ns-incidents` })).count).toBe(8)
    expect(await counts()).toEqual(before)
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId)

    expect(await listDatasets(es, prefix)).toEqual([{ dataset: 'ns', incidents: 8, problems: 1, createdAt: expect.stringMatching(/^\d{4}-/), complete: true }])
    expect(await dropDataset(es, prefix, 'ns')).toEqual({ indices: [`${prefix}-whatif-ns-incidents-000001`, `${prefix}-whatif-ns-problems-000001`] })
    expect(Object.keys(await es.indices.get({ index: `${prefix}-whatif-ns-*`, allow_no_indices: true }))).toEqual([])
    expect(await listDatasets(es, prefix)).toEqual([])
    await expect(dropDataset(es, prefix, 'ns')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' })
  })

  it('rules that name the service after another label relabel the events and move downtime between services', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'replay-rules-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'service-from-namespace.json')
    writeFileSync(file, JSON.stringify({ version: 1, service: { labels: ['namespace'], rules: [] } }))
    const rules = loadRules(file)
    const { logger } = captureLogs()
    const report = await whatIf({ kafka, es, logger, topics, indexPrefix: prefix, ...range, engineConfig: rules.engineConfig, relabel: rules.relabel, rules: rules.file, groupId: uniqueName('replay') })
    // Every event but billing's two and dns's two (their namespace is their service) gets another service.
    expect(report.replay.relabelled).toBe(events.length - 4)
    const downtime = Object.fromEntries(report.comparison.availability.map((a) => [a.service, [a.liveDowntimeMs / MIN, a.replayDowntimeMs / MIN]]))
    // checkout 10–30 and payments 12–40 are both namespace shop now: 30 min of shop, none of either.
    expect(downtime.shop).toEqual([0, 30])
    expect(downtime.checkout).toEqual([20, 0])
    expect(downtime.payments).toEqual([28, 0])
    expect(downtime.billing).toEqual([10, 10])
  })

  it('a range with no records replays nothing and reads no group into being', async () => {
    const { logger } = captureLogs()
    const report = await whatIf({ kafka, es, logger, topics, indexPrefix: prefix, fromMs: T0 - 30 * 86_400_000, toMs: T0 - 20 * 86_400_000, warmUpMs: 0, engineConfig: {}, groupId: uniqueName('replay-empty') })
    expect(report.replay).toMatchObject({ alerts: 0, commands: 0 })
    expect(report.comparison.incidents).toMatchObject({ live: 0, replay: 0 })
  })
})

describe('what-if replay across --from, on the real Kafka and Elasticsearch', () => {
  // One alert fires 50 min before --from, resolves 45 min before it and fires again 5 min into the range.
  // A 30 min reopen window (the default) makes that two incidents, the first resolved before --from; a
  // 60 min one reopens the first, which is then open across --from.
  const fromMs = T0 + 60 * MIN
  const toMs = T0 + 6 * 60 * MIN
  const flapping = [
    ...alert('x1', 'edge', { alertname: 'EdgeDown', namespace: 'edge' }, 10, 15),
    ...alert('x1', 'edge', { alertname: 'EdgeDown', namespace: 'edge' }, 65, 80),
  ]
  const shortWindow = {}
  const longWindow = overriddenConfigOf({ OPSREVIEW_REOPEN_WINDOW: 60 * MIN })
  const topics = { alerts: uniqueName('replay-from-alerts'), commands: uniqueName('replay-from-commands') }
  const prefixes = { short: uniqueName('replayfrom-short'), long: uniqueName('replayfrom-long') }
  let kafka: Kafka
  let admin: Admin
  let es: Client
  const lives: Record<keyof typeof prefixes, Incident[]> = { short: [], long: [] }

  beforeAll(async () => {
    ({ kafka, admin, es } = await openClients(topics))
    // "Live" under each window, from the engine as the correlator would have run it.
    for (const [name, config] of [['short', shortWindow], ['long', longWindow]] as const) {
      const engine = new CorrelationEngine(config)
      const { live, take } = liveCollector()
      for (const e of flapping) take(engine.apply({ type: 'alert', event: e }))
      take(engine.apply({ type: 'tick', at: new Date(toMs).toISOString() }))
      lives[name] = [...live.incidents.values()]
      await indexLive(es, prefixes[name], live)
    }
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: topics.alerts, messages: flapping.map((e) => ({ key: e.fingerprint, value: JSON.stringify(e), timestamp: String(Date.parse(e.receivedAt)) })) })
    await producer.disconnect()
  })

  afterAll(() => closeClients({ admin, es }, topics, Object.values(prefixes)))

  it('live under each window is what the scenario says', () => {
    expect(lives.short.map((i) => [i.openedAt, i.resolvedAt])).toEqual([[at(10), expect.any(String)], [at(65), expect.any(String)]])
    expect(Date.parse(lives.short[0]!.resolvedAt!)).toBeLessThan(fromMs)
    expect(lives.long.map((i) => i.openedAt)).toEqual([at(10)])
    expect(Date.parse(lives.long[0]!.resolvedAt!)).toBeGreaterThan(fromMs)
  })

  it('a longer reopen window merges the live incident resolved before --from into the one reopened across it', async () => {
    const { logger } = captureLogs()
    const report = await whatIf({ kafka, es, logger, topics, indexPrefix: prefixes.short, fromMs, toMs, engineConfig: longWindow, groupId: uniqueName('replay') })
    const c = report.comparison.incidents
    expect(c).toMatchObject({ live: 1, replay: 0, delta: -1, unchanged: 0, split: [], onlyLive: [], onlyReplay: [] })
    expect(c.merged.map((m) => [m.replay.id, m.live.map((l) => l.id)])).toEqual([[lives.long[0]!.id, lives.short.map((i) => i.id)]])
    expect(renderReport(report)).toContain('Incidents opened in the range: live 1, replay 0 (−1)\n  among incidents open in it (opened before it too): unchanged 0, merged 1, split 0, only live 0, only replay 0\n')
  })

  it('a shorter reopen window splits the live incident open across --from into one resolved before it and one in it', async () => {
    const { logger } = captureLogs()
    const report = await whatIf({ kafka, es, logger, topics, indexPrefix: prefixes.long, fromMs, toMs, engineConfig: shortWindow, groupId: uniqueName('replay') })
    const c = report.comparison.incidents
    expect(c).toMatchObject({ live: 0, replay: 1, delta: 1, unchanged: 0, merged: [], onlyLive: [], onlyReplay: [] })
    expect(c.split.map((s) => [s.live.id, s.replay.map((r) => r.id)])).toEqual([[lives.long[0]!.id, lives.short.map((i) => i.id)]])
  })
})
