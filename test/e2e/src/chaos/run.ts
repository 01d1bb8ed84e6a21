/**
 * One chaos run: the pipeline (receiver, correlator, indexer) on its own topics and indices, a real
 * Alertmanager in front, a few hundred alerts fired and resolved through it while faults hit every part,
 * poison alerts on the side, then the oracle once everything has settled. Used by `pnpm chaos` (main.ts)
 * and, with the short options, by chaos.outage.test.ts. In cluster mode each service runs twice and
 * Alertmanager posts every notification to both receivers, on a Kafka cluster.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { defaultCorrelationConfig, type CorrelationConfig } from '@opsreview/correlation/config'
import { elasticsearchUrl, esClient, kafkaBrokers, kafkaClient, uniqueName } from '@opsreview/testing'
import { freePort, stack } from '../processes.ts'
import { goodAlert, poisonAlerts, poisonMarker, postToAlertmanager, webhookBody, type PoisonAlert, type PostableAlert } from './alerts.ts'
import { assertOwnStack, runFaults, seededRandom, sleep, stackHome, type FaultRecord } from './faults.ts'
import { judge, readIndices, type PoisonOutcome, type SentState, type Verdict } from './oracle.ts'
import { instancesOf, type ChaosOptions } from './options.ts'
import { startAlertmanager, SupervisedService, type Note, type ServiceName } from './supervisor.ts'
import { TopicLog } from './topic-log.ts'

export interface ChaosResult {
  verdict: Verdict
  faults: FaultRecord[]
  /** Exits of a service that nobody asked for, per service. */
  crashes: Record<string, string[]>
  /** The run's shape: Kafka nodes and instances per service. */
  topology: { kafkaNodes: number; instances: number }
  seconds: { total: number; load: number; settle: number }
  workDir: string
}

/** A resolve waits for its firing to be on the alert topic, so Alertmanager cannot fold the two into one resolve; this long at most. */
const OBSERVE_TIMEOUT_MS = 120_000
/** The settle phase ends early when nothing at all has changed for this long. */
const STALL_MS = 90_000

export async function runChaos(o: ChaosOptions, note: Note, cleanups: (() => Promise<void> | void)[] = []): Promise<ChaosResult> {
  const began = Date.now()
  const runId = uniqueName('chaos')
  const workDir = path.join(process.env.OPSREVIEW_CHAOS_DIR ?? os.tmpdir(), runId)
  await mkdir(workDir, { recursive: true })
  const random = seededRandom(o.seed)
  const instances = instancesOf(o)
  const kafkaNodes = kafkaBrokers.length
  if (o.cluster && kafkaNodes < 3) throw new Error(`--cluster needs a Kafka cluster of three nodes; OPSREVIEW_KAFKA_BROKERS names ${kafkaBrokers.join(',')} (infra/local/chaos.sh sets it)`)
  note(`run ${runId}: ${o.alerts} alerts in ${o.groups} groups over ${o.fireMs / 1000} s, faults ${o.faults.join(',') || 'none'}, ${o.poison} poison, seed ${o.seed}; `
    + `${kafkaNodes} Kafka node(s), ${instances} instance(s) of each service; logs in ${workDir}`)

  const home = stackHome()
  if (o.faults.includes('kafka') || o.faults.includes('elasticsearch')) await assertOwnStack(home, kafkaBrokers, elasticsearchUrl)

  const t = (name: string) => `${runId}-${name}`
  const topics = {
    OPSREVIEW_TOPIC_ALERTS: t('alerts'), OPSREVIEW_TOPIC_REJECTED: t('rejected'), OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: t('indexer-dlq'),
    OPSREVIEW_TOPIC_COMMANDS: t('commands'), OPSREVIEW_TOPIC_CORRELATOR_INPUT: t('input'), OPSREVIEW_TOPIC_INCIDENTS: t('incidents'),
    OPSREVIEW_TOPIC_PROBLEMS: t('problems'), OPSREVIEW_TOPIC_COMMAND_RESULTS: t('results'), OPSREVIEW_TOPIC_CORRELATOR_STATE: t('state'),
    OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: t('correlator-dlq'),
  }
  const prefix = runId
  const token = randomBytes(16).toString('hex')
  // The correlator's engine config as the service builds it from the run's variables: it ticks
  // (OPSREVIEW_TICK_INTERVAL below), so its engine expects ticks and takes the first event's receipt as
  // one (services/correlator/src/config.ts); a replay without that holds the first events differently.
  const engineConfig: Partial<CorrelationConfig> = {
    quietPeriodMs: o.quietPeriodMs, allowedLatenessMs: o.latenessMs, lateHold: { ...defaultCorrelationConfig.lateHold, expectTicks: true },
  }
  const receiverPorts: number[] = []
  for (let k = 0; k < instances; k++) receiverPorts.push(await freePort())
  const common = { OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_ES_URL: elasticsearchUrl, ...topics }
  // Instance k (from 1) of a service: its own port and, for the receiver, its own spool; the instances of
  // a service share its consumer group, so they share the partitions.
  const envOf = async (name: ServiceName, k: number): Promise<Record<string, string>> => {
    switch (name) {
      case 'receiver':
        return { ...common, OPSREVIEW_RECEIVER_PORT: String(receiverPorts[k - 1]), OPSREVIEW_INGEST_TOKENS: token, OPSREVIEW_SPOOL_DIR: path.join(workDir, instances === 1 ? 'spool' : `spool-${k}`) }
      case 'correlator':
        return {
          ...common, OPSREVIEW_CORRELATOR_GROUP: t('correlator'), OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_PARTITIONS: '3',
          // The broker's minimum session: a killed instance's partitions move to its successor within seconds.
          OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s', OPSREVIEW_SNAPSHOT_INTERVAL: '1s', OPSREVIEW_TICK_INTERVAL: '2s', OPSREVIEW_QUIET_PERIOD: `${o.quietPeriodMs}ms`, OPSREVIEW_ALLOWED_LATENESS: `${o.latenessMs}ms`,
        }
      case 'indexer':
        return {
          ...common, OPSREVIEW_INDEXER_GROUP: t('indexer'), OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_ES_INDEX_PREFIX: prefix,
          // Two instances: the survivor takes a killed one's partitions within seconds, as the correlator's does.
          ...(instances > 1 ? { OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s' } : {}),
        }
    }
  }

  const kafka = kafkaClient(runId)
  const es = esClient()
  const services = { receiver: [], correlator: [], indexer: [] } as Record<ServiceName, SupervisedService[]>
  const onCleanup = (f: () => Promise<void> | void) => { cleanups.push(f) }
  onCleanup(async () => {
    if (o.keep) { note(`kept topics ${runId}-* and indices ${prefix}-*`); return }
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
    await es.indices.delete({ index: `${prefix}-*`, expand_wildcards: 'all' }, { ignore: [404] })
    await es.indices.deleteIndexTemplate({ name: `${prefix}-*` }, { ignore: [404] })
    await es.close()
  })
  if (o.faults.includes('kafka')) onCleanup(() => stack('start', 'kafka'))
  for (const name of ['receiver', 'correlator', 'indexer'] as const) {
    for (let k = 1; k <= instances; k++) {
      const label = instances === 1 ? name : `${name}-${k}`
      const svc = new SupervisedService(name, await envOf(name, k), path.join(workDir, `${label}.log`), note, label)
      services[name].push(svc)
      onCleanup(() => svc.close())
    }
  }
  // One after the other: the receiver creates the alert topic the others read, and the machine is small.
  for (const name of ['receiver', 'correlator', 'indexer'] as const) for (const svc of services[name]) await svc.start()
  const receiverUrls = receiverPorts.map((p) => `http://127.0.0.1:${p}/webhooks/alertmanager`)
  const am = await startAlertmanager(path.join(workDir, 'alertmanager'), receiverUrls, token)
  onCleanup(() => am.close())

  const log = new TopicLog(kafka, [topics.OPSREVIEW_TOPIC_ALERTS, topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT, topics.OPSREVIEW_TOPIC_REJECTED, topics.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, topics.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER])
  onCleanup(() => log.stop())

  // The load: each alert fired at its planned moment, resolved a little after its firing is on the topic.
  const alerts = Array.from({ length: o.alerts }, (_, n) => goodAlert(runId, n, o.groups))
  const plan = alerts.map((_, n) => Math.floor((n / o.alerts) * o.fireMs * 0.85 + random() * o.fireMs * 0.1))
  // Held long enough that several alerts of one group fire together (grouping), short enough to resolve in the run.
  const hold = alerts.map(() => 2000 + Math.floor(random() * Math.min(60_000, o.fireMs / 3)))
  const state = alerts.map(() => ({ startsAt: '', firedAt: 0, observedAt: 0, resolved: false }))
  const sent: SentState[] = []
  let resolvedBlind = 0
  log.onRecord = (r) => {
    if (r.topic !== topics.OPSREVIEW_TOPIC_ALERTS) return
    try {
      const e = JSON.parse(r.value) as { status?: string; labels?: Record<string, string> }
      const n = Number(e.labels?.chaos_alert)
      if (e.labels?.chaos_run === runId && e.status === 'firing' && state[n] && !state[n].observedAt) state[n].observedAt = Date.now()
    } catch { /* the oracle reports unparseable records */ }
  }
  await log.start()

  const poison = poisonAlerts(runId, o.poison, new Date())
  const poisonPlan = poison.map(() => Math.floor(random() * o.fireMs * 0.9))
  const outcomes: PoisonOutcome[] = []
  const sendPoison = async (p: PoisonAlert): Promise<void> => {
    const answers: string[] = []
    let via = p.route
    if (p.route === 'alertmanager') {
      const r = await postToAlertmanager(am.url, [{ labels: p.labels, annotations: { summary: p.what }, startsAt: p.startsAt, endsAt: p.endsAt }])
      answers.push(`alertmanager ${r.status}${r.status === 200 ? '' : `: ${r.body.trim().slice(0, 160)}`}`)
      if (r.status !== 200) via = 'receiver'
    }
    if (via === 'receiver') {
      // As a sender that retries would: a receiver that is down at that moment (a fault) or answers 5xx gets more
      // tries, for 90 s, as Alertmanager retries a notification until its group's next one. Six tries 5 s apart
      // (until 2026-12-06) ended inside a Kafka fault on a slow host (the broker's restart took 18 s), and the
      // poison alert the receiver never got counted as lost.
      const givesUpAt = Date.now() + 90_000
      for (let attempt = 0; ; attempt++) {
        // Several receivers: a sender that retries tries the next one.
        const r = await fetch(receiverUrls[attempt % receiverUrls.length]!, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: webhookBody(p) })
          .then(async (res) => ({ status: res.status, body: await res.text() }), (err: unknown) => ({ status: 0, body: String(err) }))
        answers.push(`receiver ${r.status}: ${r.body.trim().slice(0, 200)}`)
        if ((r.status > 0 && r.status < 500) || Date.now() + 5000 > givesUpAt) break
        await sleep(5000)
      }
    }
    outcomes.push({ name: p.name, marker: poisonMarker(p), what: p.what, expect: p.expect, labels: p.labels, sentVia: p.route === via ? via : `${p.route}, refused, then ${via}`, answers })
    note(`poison ${p.name} sent: ${answers.join(' | ')}`)
  }

  const loadStart = Date.now()
  const load = (async () => {
    const poisonSends: Promise<void>[] = []
    const poisonDue = new Set(poison.map((_, i) => i))
    for (;;) {
      const elapsed = Date.now() - loadStart
      for (const i of [...poisonDue]) if (poisonPlan[i]! <= elapsed) { poisonDue.delete(i); poisonSends.push(sendPoison(poison[i]!)) }
      const now = Date.now()
      const fire = alerts.filter((a) => !state[a.n]!.firedAt && plan[a.n]! <= elapsed)
      if (fire.length > 0) {
        const startsAt = new Date(now - 1000).toISOString()
        const endsAt = new Date(now + 2 * 3_600_000).toISOString()
        const r = await postToAlertmanager(am.url, fire.map((a): PostableAlert => ({ labels: a.labels, annotations: a.annotations, startsAt, endsAt })))
        if (r.status === 200) for (const a of fire) { state[a.n] = { ...state[a.n]!, startsAt, firedAt: now }; sent.push({ n: a.n, status: 'firing', time: startsAt }) }
        else note(`alertmanager refused a batch of fires (${r.status}): ${r.body.slice(0, 200)}`)
      }
      const resolve = alerts.filter((a) => {
        const s = state[a.n]!
        if (!s.firedAt || s.resolved) return false
        return s.observedAt ? now >= s.observedAt + hold[a.n]! : now >= s.firedAt + OBSERVE_TIMEOUT_MS
      })
      if (resolve.length > 0) {
        const endsAt = new Date(now - 200).toISOString()
        const r = await postToAlertmanager(am.url, resolve.map((a): PostableAlert => ({ labels: a.labels, annotations: a.annotations, startsAt: state[a.n]!.startsAt, endsAt })))
        if (r.status === 200) {
          for (const a of resolve) {
            if (!state[a.n]!.observedAt) resolvedBlind++
            state[a.n]!.resolved = true
            sent.push({ n: a.n, status: 'resolved', time: endsAt })
          }
        } else note(`alertmanager refused a batch of resolves (${r.status}): ${r.body.slice(0, 200)}`)
      }
      if (poisonDue.size === 0 && state.every((s) => s.resolved)) break
      await sleep(250)
    }
    await Promise.all(poisonSends)
    note(`load done: ${sent.length} states sent${resolvedBlind ? `, ${resolvedBlind} resolve(s) sent before their firing was seen on the topic (${OBSERVE_TIMEOUT_MS / 1000} s)` : ''}`)
  })()
  const faults = runFaults(o.faults, o.rounds, o.fireMs, loadStart, { services, kafkaNodes, home, esStopMs: o.esStopMs, random, note, onCleanup })
  const [, faultRecords] = await Promise.all([load, faults])
  const loadSeconds = (Date.now() - loadStart) / 1000

  // Settle: wait, with a deadline, for the oracle to hold; stop early only when nothing changes any more.
  const settleStart = Date.now()
  note(`settling (deadline ${o.settleMs / 1000} s)`)
  let verdict: Verdict | undefined
  let lastSignature = ''
  let lastChange = Date.now()
  let lastProgressNote = Date.now()
  for (;;) {
    const caughtUp = await log.caughtUp().catch(() => false)
    if (!caughtUp && Date.now() - lastProgressNote >= 15_000) { lastProgressNote = Date.now(); note('settling: the run\'s reader is not at the end of the topics yet') }
    if (caughtUp) {
      const indices = await readIndices(es, prefix).catch((err: unknown) => { note(`reading the indices failed: ${String(err)}`); return undefined })
      if (indices) {
        const evidence = {
          alerts: log.records(topics.OPSREVIEW_TOPIC_ALERTS), input: log.records(topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT),
          deadLetters: [topics.OPSREVIEW_TOPIC_REJECTED, topics.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, topics.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER].flatMap((x) => log.records(x)),
          ...indices,
        }
        verdict = judge(sent, outcomes, evidence, engineConfig, runId)
        if (verdict.pass) break
        const signature = JSON.stringify([verdict.line, evidence.alerts.length, evidence.deadLetters.length, indices.esAlerts.length, indices.esIncidents.map((i) => `${i.id}@${i.version}`)])
        if (signature !== lastSignature) { lastSignature = signature; lastChange = Date.now() }
        if (Date.now() - lastProgressNote >= 15_000) { lastProgressNote = Date.now(); note(`settling: ${verdict.line}`) }
      }
    }
    if (Date.now() - settleStart > o.settleMs) { note('settle deadline reached'); break }
    if (verdict && Date.now() - lastChange > Math.min(STALL_MS, o.settleMs)) { note(`nothing changed for ${STALL_MS / 1000} s`); break }
    await sleep(2000)
  }
  if (!verdict) {
    // The oracle never saw a complete log: Kafka did not come back, or the log could not be read to its end.
    verdict = judge(sent, outcomes, { alerts: [], input: [], deadLetters: [], esAlerts: [], esIncidents: [] }, engineConfig, runId)
    verdict.line = `${verdict.line.replace('PASS', 'FAIL')} (the topics were never read to their end)`
  }
  const crashes = Object.fromEntries(Object.values(services).flat().map((s) => [s.label, s.crashes]))
  const result: ChaosResult = {
    verdict, faults: faultRecords, crashes, workDir, topology: { kafkaNodes, instances },
    seconds: { total: Math.round((Date.now() - began) / 1000), load: Math.round(loadSeconds), settle: Math.round((Date.now() - settleStart) / 1000) },
  }
  await writeFile(path.join(workDir, 'report.json'), JSON.stringify({ runId, options: o, ...result }, null, 2))
  return result
}

/** Runs every cleanup, last registered first, whatever fails. */
export async function runCleanups(cleanups: (() => Promise<void> | void)[], note: Note): Promise<void> {
  for (const f of cleanups.splice(0).reverse()) {
    try { await f() } catch (err) { note(`cleanup failed: ${String(err)}`) }
  }
}

/** A readable account of what failed, for the console. */
export function describeFindings(v: Verdict, limit = 15): string {
  const f = v.findings
  const out: string[] = []
  const list = <T>(title: string, items: T[], show: (x: T) => string) => {
    if (items.length === 0) return
    out.push(`${title} (${items.length}):`)
    for (const x of items.slice(0, limit)) out.push(`  ${show(x)}`)
    if (items.length > limit) out.push(`  … ${items.length - limit} more in report.json`)
  }
  const byWhere = <T extends { where: string }>(items: T[]) => [...items.reduce((m, x) => m.set(x.where, (m.get(x.where) ?? 0) + 1), new Map<string, number>())].map(([w, c]) => `${c} × ${w}`)
  if (f.lost.length > 0) out.push(`lost by stage: ${byWhere(f.lost).join('; ')}`)
  list('lost alert states', f.lost, (x) => `alert ${x.n} ${x.status} ${x.time} ${x.id ?? ''}: ${x.where}`)
  list('duplicated alert states', f.duplicated, (x) => `alert ${x.n} ${x.status} ${x.id}: ${x.where}`)
  list('alerts not in their incident', f.notInIncident, (x) => `alert ${x.n} (${x.fingerprint}): ${x.where}`)
  list('incidents that differ from the replay', f.incidentMismatches, (x) => `${x.id}: replay ${JSON.stringify(x.replay)} / indexed ${JSON.stringify(x.indexed)}`)
  list('poison alerts not handled', f.poison.filter((x) => !x.ok), (x) => `${x.name} (${x.what}) via ${x.sentVia}: ${x.outcome}; dead-lettered on ${x.deadLetteredOn.join(', ') || 'nothing'}; on the alert topic ${x.onAlertTopic}, in the index ${x.inIndex}; answers ${x.answers.join(' | ')}`)
  if (f.poison.length > 0) out.push(`poison: ${f.poison.map((x) => `${x.name} ${x.ok ? 'ok' : 'NOT OK'} (${x.outcome})`).join(', ')}`)
  if (f.unsentStates.length > 0) out.push(`states on the topic that were not sent as such (Alertmanager's own): ${f.unsentStates.length}`)
  if (f.topicRedeliveries > 0) out.push(`records repeated on the alert topic (same event id): ${f.topicRedeliveries}`)
  return out.join('\n')
}

