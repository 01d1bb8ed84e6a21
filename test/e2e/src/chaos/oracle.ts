/**
 * The oracle: what must hold once the pipeline has settled, counted from the logs and the indices.
 *
 * - Every alert state the receiver acknowledged is on the alert topic (the source of truth after the
 *   ack); every firing and resolve sent for a good alert must be there too (else it was acknowledged and
 *   lost, or never delivered).
 * - Each of those states is in the alerts index exactly once, by event id.
 * - Each good alert sits in its incident, and the indexed incidents equal a replay of the correlator's
 *   input log through the pure engine with the same config (ids, status, membership).
 * - Each poison alert is on a dead-letter topic and not in the alerts index.
 */
import type { Client } from '@elastic/elasticsearch'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { CorrelationConfig } from '@opsreview/correlation/config'
import type { EngineInput, Incident } from '@opsreview/correlation/types'
import type { LogRecord } from './topic-log.ts'

export interface SentState { n: number; status: 'firing' | 'resolved'; time: string }

export interface PoisonOutcome { name: string; marker: string; what: string; expect: 'dead-letter' | 'unknown-severity'; sentVia: string; answers: string[]; labels: Record<string, string> }

interface AlertEventLike { id: string; status: string; fingerprint: string; startsAt: string; endsAt?: string; labels?: Record<string, string> }

export interface Evidence {
  alerts: LogRecord[]
  input: LogRecord[]
  deadLetters: LogRecord[]
  esAlerts: { index: string; id: string; source: { id?: string; status?: string; severity?: string; fingerprint?: string; labels?: Record<string, string> } }[]
  esIncidents: { id: string; status: string; keys: string[]; fingerprints: string[]; alertCount: number; version: number }[]
}

export interface StateFinding { n: number | null; status: string; time: string; id: string | null; where: string }

export interface Verdict {
  pass: boolean
  line: string
  states: { expected: number; exactlyOnce: number; lost: number; duplicated: number }
  incidents: { expected: number; matching: number }
  membership: { alerts: number; inIncident: number }
  poison: { sent: number; handled: number; deadLettered: number; indexedAsWarning: number }
  findings: {
    lost: StateFinding[]
    duplicated: StateFinding[]
    notInIncident: { n: number; fingerprint: string; where: string }[]
    incidentMismatches: { id: string; replay: unknown; indexed: unknown }[]
    poison: { name: string; what: string; expect: string; outcome: string; ok: boolean; sentVia: string; answers: string[]; deadLetteredOn: string[]; onAlertTopic: number; inIndex: number }[]
    unsentStates: { id: string; n: number | null; status: string; time: string }[]
    topicRedeliveries: number
  }
}

const iso = (t: string | undefined) => (t && !Number.isNaN(Date.parse(t)) ? new Date(t).toISOString() : t ?? '')

function parse<T>(value: string): T | undefined {
  try { return JSON.parse(value) as T } catch { return undefined }
}

/** The last version of each incident a single engine per input partition produces, as the service runs them. */
export function replayIncidents(input: readonly LogRecord[], config: Partial<CorrelationConfig>): Map<string, Incident> {
  const engines = new Map<number, CorrelationEngine>()
  const incidents = new Map<string, Incident>()
  for (const r of input) {
    const parsed = parse<EngineInput>(r.value)
    if (!parsed) continue
    let engine = engines.get(r.partition)
    if (!engine) engines.set(r.partition, (engine = new CorrelationEngine(config)))
    try {
      for (const o of engine.apply(parsed)) if (o.type === 'incident') incidents.set(o.incident.id, o.incident)
    } catch {
      // The correlator logs and skips an input it cannot apply; the replay does the same.
    }
  }
  return incidents
}

export function judge(sent: readonly SentState[], poison: readonly PoisonOutcome[], ev: Evidence, config: Partial<CorrelationConfig>, runId: string): Verdict {
  const isPoison = (e: AlertEventLike) => (e.labels?.alertname ?? '').startsWith('ChaosPoison')
  const events = ev.alerts.map((r) => parse<AlertEventLike>(r.value)).filter((e): e is AlertEventLike => !!e && typeof e.id === 'string' && e.labels?.chaos_run === runId)
  const good = events.filter((e) => !isPoison(e))
  const byId = new Map(good.map((e) => [e.id, e]))
  const topicRedeliveries = good.length - byId.size

  // What the receiver acknowledged, as the topic holds it; then what we sent that the topic lacks.
  const stateKey = (n: number | string, status: string, time: string) => `${n}/${status}/${iso(time)}`
  const onTopic = new Map<string, AlertEventLike>()
  for (const e of byId.values()) onTopic.set(stateKey(e.labels?.chaos_alert ?? '?', e.status, e.status === 'resolved' ? e.endsAt ?? '' : e.startsAt), e)
  const sentKeys = new Set(sent.map((s) => stateKey(s.n, s.status, s.time)))
  const lost: StateFinding[] = []
  for (const s of sent) {
    if (!onTopic.has(stateKey(s.n, s.status, s.time))) lost.push({ n: s.n, status: s.status, time: s.time, id: null, where: 'not on the alert topic: acknowledged and lost, or never delivered by Alertmanager' })
  }
  const unsentStates = [...onTopic.entries()].filter(([k]) => !sentKeys.has(k)).map(([, e]) => ({ id: e.id, n: Number(e.labels?.chaos_alert ?? NaN), status: e.status, time: e.status === 'resolved' ? e.endsAt ?? '' : e.startsAt }))

  const inputIds = new Set<string>()
  for (const r of ev.input) {
    const i = parse<EngineInput>(r.value)
    if (i?.type === 'alert') inputIds.add(i.event.id)
  }
  const esCount = new Map<string, number>()
  for (const d of ev.esAlerts) esCount.set(d.id, (esCount.get(d.id) ?? 0) + 1)
  const deadLettered = (id: string) => ev.deadLetters.some((r) => r.value.includes(id))

  let exactlyOnce = 0
  const duplicated: StateFinding[] = []
  for (const e of byId.values()) {
    const count = esCount.get(e.id) ?? 0
    const finding = { n: Number(e.labels?.chaos_alert ?? NaN), status: e.status, time: e.status === 'resolved' ? e.endsAt ?? '' : e.startsAt, id: e.id }
    if (count === 1) exactlyOnce++
    else if (count > 1) duplicated.push({ ...finding, where: `${count} documents in ${[...new Set(ev.esAlerts.filter((d) => d.id === e.id).map((d) => d.index))].join(', ')}` })
    else {
      const where = deadLettered(e.id) ? 'on the alert topic, dead-lettered instead of indexed'
        : !inputIds.has(e.id) ? 'on the alert topic, in neither the correlator input nor the alerts index'
        : 'on the alert topic and the correlator input, not in the alerts index'
      lost.push({ ...finding, where })
    }
  }

  // Incidents: the indexed ones against the replay of the input log.
  const replay = replayIncidents(ev.input, config)
  const indexed = new Map(ev.esIncidents.map((i) => [i.id, i]))
  const incidentMismatches: Verdict['findings']['incidentMismatches'] = []
  let matching = 0
  const ids = new Set([...replay.keys(), ...indexed.keys()])
  for (const id of ids) {
    const r = replay.get(id)
    const x = indexed.get(id)
    const rv = r && { status: r.status, members: r.alerts.map((a) => a.key).sort(), alertCount: r.alertCount }
    const xv = x && { status: x.status, members: [...x.keys].sort(), alertCount: x.alertCount }
    if (rv && xv && JSON.stringify(rv) === JSON.stringify(xv)) matching++
    else incidentMismatches.push({ id, replay: rv ? { ...rv, version: r.version } : 'absent', indexed: xv ? { ...xv, version: x.version } : 'absent' })
  }

  // Each good alert in its incident: the replay says which, the index must agree.
  const fingerprintOf = new Map<number, string>()
  for (const e of byId.values()) fingerprintOf.set(Number(e.labels?.chaos_alert), e.fingerprint)
  const sentAlerts = [...new Set(sent.map((s) => s.n))]
  const notInIncident: Verdict['findings']['notInIncident'] = []
  for (const n of sentAlerts) {
    const fp = fingerprintOf.get(n)
    if (fp === undefined) { notInIncident.push({ n, fingerprint: '?', where: 'never reached the alert topic' }); continue }
    const own = [...replay.values()].find((i) => i.alerts.some((a) => a.fingerprint === fp))
    if (!own) { notInIncident.push({ n, fingerprint: fp, where: 'in no incident of the replay' }); continue }
    if (!indexed.get(own.id)?.fingerprints.includes(fp)) notInIncident.push({ n, fingerprint: fp, where: `not a member of incident ${own.id} in the index` })
  }

  const poisonFindings = poison.map((p) => {
    const dlq = ev.deadLetters.filter((r) => r.value.includes(p.marker))
    const docs = ev.esAlerts.filter((d) => d.source.labels?.alertname === p.marker)
    const deadLetteredOn = [...new Set(dlq.map((r) => r.topic))]
    const deadLettered = deadLetteredOn.length > 0 && docs.length === 0
    // The documented rule for an unknown severity word, own-property lookups included: a warning, indexed
    // once with its labels as sent. Dead-lettering it would drop a valid alert, so that fails too.
    const keptLabels = (l: Record<string, string> | undefined) => !!l && Object.entries(p.labels).every(([k, v]) => k === 'payload' || (Object.hasOwn(l, k) && l[k] === v))
    const indexedAsWarning = p.expect === 'unknown-severity' && docs.length === 1 && docs[0]!.source.severity === 'warning' && keptLabels(docs[0]!.source.labels)
    const outcome = deadLettered ? 'dead-lettered' : indexedAsWarning ? 'indexed once as a warning' : docs.length > 0 ? `in the index ${docs.length} time(s)${docs[0]!.source.severity ? ` as ${docs[0]!.source.severity}` : ''}` : 'lost: on no dead-letter topic and not in the index'
    return {
      name: p.name, what: p.what, expect: p.expect, outcome, ok: p.expect === 'dead-letter' ? deadLettered : indexedAsWarning, sentVia: p.sentVia, answers: p.answers, deadLetteredOn,
      onAlertTopic: events.filter((e) => e.labels?.alertname === p.marker).length, inIndex: docs.length,
    }
  })
  const poisonOk = poisonFindings.filter((p) => p.ok).length
  const poisonDeadLettered = poisonFindings.filter((p) => p.ok && p.outcome === 'dead-lettered').length

  const expected = byId.size + sent.filter((s) => !onTopic.has(stateKey(s.n, s.status, s.time))).length
  const states = { expected, exactlyOnce, lost: lost.length, duplicated: duplicated.length }
  const incidents = { expected: ids.size, matching }
  const membership = { alerts: sentAlerts.length, inIncident: sentAlerts.length - notInIncident.length }
  const pass = expected > 0 && exactlyOnce === expected && lost.length === 0 && duplicated.length === 0
    && ids.size > 0 && matching === ids.size && notInIncident.length === 0 && poisonOk === poison.length
  const line = `chaos: ${pass ? 'PASS' : 'FAIL'} alerts ${exactlyOnce}/${expected} exactly-once, incidents ${matching}/${ids.size} match replay, `
    + `in-incident ${membership.inIncident}/${membership.alerts}, poison ${poisonOk}/${poison.length} handled (${poisonDeadLettered} dead-lettered, ${poisonOk - poisonDeadLettered} valid as warning), lost ${lost.length}, duplicated ${duplicated.length}`
  return {
    pass, line, states, incidents, membership, poison: { sent: poison.length, handled: poisonOk, deadLettered: poisonDeadLettered, indexedAsWarning: poisonOk - poisonDeadLettered },
    findings: { lost, duplicated, notInIncident, incidentMismatches, poison: poisonFindings, unsentStates, topicRedeliveries },
  }
}

/** Every document of the run's alert and incident indices (refreshed first, so the count is current). */
export async function readIndices(es: Client, prefix: string): Promise<Pick<Evidence, 'esAlerts' | 'esIncidents'>> {
  const alias = { alerts: `${prefix}-alerts`, incidents: `${prefix}-incidents` }
  await es.indices.refresh({ index: `${prefix}-*` }, { ignore: [404] })
  const all = async <T>(index: string, source: string[]) => {
    const hits: { _index: string; _id?: string | null; _source?: T }[] = []
    let after: (string | number)[] | undefined
    for (;;) {
      const res = await es.search<T>({ index, size: 5000, _source: source, sort: ['_doc'], query: { match_all: {} }, ...(after ? { search_after: after } : {}) }, { ignore: [404] })
      const page = res.hits?.hits ?? []
      hits.push(...page)
      if (page.length < 5000) return hits
      after = page.at(-1)!.sort as (string | number)[]
    }
  }
  const alerts = await all<Evidence['esAlerts'][number]['source']>(alias.alerts, ['id', 'status', 'severity', 'fingerprint', 'labels'])
  const incidents = await all<{ id: string; status: string; alerts?: { key: string; fingerprint: string }[]; alertCount: number; version: number }>(alias.incidents, ['id', 'status', 'alerts.key', 'alerts.fingerprint', 'alertCount', 'version'])
  return {
    esAlerts: alerts.map((h) => ({ index: h._index, id: h._id ?? '', source: h._source ?? {} })),
    esIncidents: incidents.map((h) => ({
      id: h._source?.id ?? h._id ?? '', status: h._source?.status ?? '', keys: (h._source?.alerts ?? []).map((a) => a.key),
      fingerprints: (h._source?.alerts ?? []).map((a) => a.fingerprint), alertCount: h._source?.alertCount ?? 0, version: h._source?.version ?? 0,
    })),
  }
}
