import { describe, expect, it } from 'vitest'
import type { EngineInput } from '@opsreview/correlation/types'
import { judge, replayIncidents, type Evidence, type PoisonOutcome, type SentState } from './oracle.ts'
import type { LogRecord } from './topic-log.ts'

// The oracle on evidence made by hand: it must count a complete run as PASS and catch each kind of failure.
const RUN = 'chaos-test'
const config = { quietPeriodMs: 15_000, allowedLatenessMs: 0 }
const T = Date.parse('2026-12-01T10:00:00.000Z')
const at = (s: number) => new Date(T + s * 1000).toISOString()

function event(n: number, status: 'firing' | 'resolved', time: string, alertname = 'ChaosLoad0') {
  const e = {
    id: `${n.toString(16).padStart(4, '0')}${status === 'firing' ? 'f' : 'r'}${Date.parse(time).toString(16)}`.padEnd(32, '0'),
    source: 'alertmanager', fingerprint: `fp-${n}`, status, severity: 'warning', service: `svc-${n % 2}`, environment: 'production',
    title: `alert ${n}`, labels: { alertname, service: `svc-${n % 2}`, chaos_run: RUN, chaos_alert: String(n) },
    startsAt: status === 'firing' ? time : at(0), receivedAt: time, links: [], origin: {},
    ...(status === 'resolved' ? { endsAt: time } : {}),
  }
  return e
}

let offset = 0n
const record = (topic: string, value: unknown, partition = 0): LogRecord => ({ topic, partition, offset: offset++, key: null, value: JSON.stringify(value) })

/** A complete run of two alerts, each fired and resolved, indexed once, with incidents as the replay makes them. */
function completeRun() {
  const sent: SentState[] = [
    { n: 0, status: 'firing', time: at(1) }, { n: 1, status: 'firing', time: at(2) },
    { n: 0, status: 'resolved', time: at(5) }, { n: 1, status: 'resolved', time: at(6) },
  ]
  const events = sent.map((s) => event(s.n, s.status, s.time))
  const input = [...events.map((e): EngineInput => ({ type: 'alert', event: e as never })), { type: 'tick', at: at(60) } as EngineInput].map((i) => record('input', i))
  const incidents = [...replayIncidents(input, config).values()]
  const ev: Evidence = {
    alerts: events.map((e) => record('alerts', e)),
    input,
    deadLetters: [record('rejected', { body: '{"labels":{"alertname":"ChaosPoison0_chaos-test"}}' })],
    esAlerts: events.map((e) => ({ index: 'alerts-2026.12-000001', id: e.id, source: { id: e.id, status: e.status, severity: 'warning', labels: e.labels } })),
    esIncidents: incidents.map((i) => ({ id: i.id, status: i.status, keys: i.alerts.map((a) => a.key), fingerprints: i.alerts.map((a) => a.fingerprint), alertCount: i.alertCount, version: i.version })),
  }
  const poison: PoisonOutcome[] = [{ name: 'year-10000-start', marker: 'ChaosPoison0_chaos-test', what: 'year 10000', expect: 'dead-letter', sentVia: 'receiver', answers: [], labels: { alertname: 'ChaosPoison0_chaos-test' } }]
  return { sent, events, ev, poison }
}

describe('the chaos oracle', () => {
  it('passes a complete run', () => {
    const { sent, ev, poison } = completeRun()
    const v = judge(sent, poison, ev, config, RUN)
    expect(ev.esIncidents.length).toBe(2)
    expect(v.line).toBe('chaos: PASS alerts 4/4 exactly-once, incidents 2/2 match replay, in-incident 2/2, poison 1/1 handled (1 dead-lettered, 0 valid as warning), lost 0, duplicated 0')
  })

  it('counts a sent state missing from the alert topic as lost', () => {
    const { sent, ev, poison } = completeRun()
    ev.alerts = ev.alerts.slice(0, 3)
    const v = judge(sent, poison, ev, config, RUN)
    expect(v.pass).toBe(false)
    expect(v.states).toMatchObject({ expected: 4, exactlyOnce: 3, lost: 1 })
    expect(v.findings.lost[0]).toMatchObject({ n: 1, status: 'resolved', where: expect.stringContaining('not on the alert topic') })
  })

  it('counts an acknowledged state missing from the index as lost, and one indexed twice as duplicated', () => {
    const { sent, ev, poison, events } = completeRun()
    ev.esAlerts = [...ev.esAlerts.slice(1), { ...ev.esAlerts[3]!, index: 'alerts-2026.11-000001' }]
    const v = judge(sent, poison, ev, config, RUN)
    expect(v.states).toMatchObject({ expected: 4, exactlyOnce: 2, lost: 1, duplicated: 1 })
    expect(v.findings.lost[0]).toMatchObject({ id: events[0]!.id, where: 'on the alert topic and the correlator input, not in the alerts index' })
    expect(v.findings.duplicated[0]).toMatchObject({ id: events[3]!.id })
  })

  it('finds an indexed incident that differs from the replay, and an alert missing from its incident', () => {
    const { sent, ev, poison } = completeRun()
    ev.esIncidents[0] = { ...ev.esIncidents[0]!, status: 'open', keys: [], fingerprints: [] }
    const v = judge(sent, poison, ev, config, RUN)
    expect(v.incidents).toEqual({ expected: 2, matching: 1 })
    expect(v.membership).toEqual({ alerts: 2, inIncident: 1 })
    expect(v.pass).toBe(false)
  })

  it('fails a poison alert that is on no dead-letter topic, or in the index', () => {
    const { sent, ev, poison } = completeRun()
    expect(judge(sent, poison, { ...ev, deadLetters: [] }, config, RUN).findings.poison[0]).toMatchObject({ ok: false, outcome: 'lost: on no dead-letter topic and not in the index' })
    const indexed = { ...ev, esAlerts: [...ev.esAlerts, { index: 'a', id: 'p', source: { severity: 'critical', labels: { alertname: 'ChaosPoison0_chaos-test' } } }] }
    expect(judge(sent, poison, indexed, config, RUN).poison).toMatchObject({ sent: 1, handled: 0 })
  })

  it('accepts an unknown severity indexed once as a warning with its labels kept, and nothing else', () => {
    const { sent, ev } = completeRun()
    const labels = Object.defineProperty({ alertname: 'ChaosPoison6_chaos-test', severity: '__proto__' }, '__proto__', { value: 'polluted', enumerable: true }) as Record<string, string>
    const poison: PoisonOutcome[] = [{ name: 'proto-label-direct', marker: 'ChaosPoison6_chaos-test', what: '__proto__', expect: 'unknown-severity', sentVia: 'receiver', answers: [], labels }]
    const doc = (l: Record<string, string>, severity = 'warning') => ({ ...ev, deadLetters: [], esAlerts: [...ev.esAlerts, { index: 'a', id: 'p', source: { severity, labels: l } }] })
    expect(judge(sent, poison, doc(JSON.parse(JSON.stringify(labels)) as Record<string, string>), config, RUN).poison).toMatchObject({ handled: 1, indexedAsWarning: 1 })
    expect(judge(sent, poison, doc({ alertname: 'ChaosPoison6_chaos-test', severity: '__proto__' }), config, RUN).poison.handled).toBe(0)
    expect(judge(sent, poison, doc(JSON.parse(JSON.stringify(labels)) as Record<string, string>, 'critical'), config, RUN).poison.handled).toBe(0)
    // Dead-lettering a valid alert drops it: that fails too.
    const dropped = { ...ev, deadLetters: [record('rejected', { body: '{"labels":{"alertname":"ChaosPoison6_chaos-test"}}' })] }
    expect(judge(sent, poison, dropped, config, RUN).poison.handled).toBe(0)
  })
})
