/**
 * What the chaos run sends: good alerts, fired and resolved through Alertmanager's own API, and poison
 * alerts that no stage may lose (each must end on a dead-letter topic). Every alert carries the run's id in
 * `chaos_run` and its number in `chaos_alert` or its poison name in its alertname, so the oracle can find
 * it on every topic and in every index.
 */
import { fixture } from '@opsreview/testing'

export interface GoodAlert {
  n: number
  labels: Record<string, string>
  annotations: Record<string, string>
  /** Incident group: service and environment. */
  service: string
  environment: string
}

const SEVERITIES = ['critical', 'warning', 'info']

/** Alert `n` of the run: `groups` service × environment pairs, three alert names per service. */
export function goodAlert(runId: string, n: number, groups: number): GoodAlert {
  const g = n % groups
  const service = `chaos-svc-${g}`
  const environment = g % 2 ? 'staging' : 'production'
  const alertname = `ChaosLoad${Math.floor(n / groups) % 3}`
  return {
    n, service, environment,
    labels: { alertname, service, env: environment, severity: SEVERITIES[n % 3]!, instance: `chaos-${n}:9100`, chaos_run: runId, chaos_alert: String(n) },
    annotations: { summary: `${alertname} on ${service} (${n})` },
  }
}

/** An alert as Alertmanager's API v2 takes it. */
export interface PostableAlert {
  labels: Record<string, string>
  annotations?: Record<string, string>
  startsAt: string
  endsAt: string
}

export async function postToAlertmanager(amUrl: string, alerts: PostableAlert[]): Promise<{ status: number; body: string }> {
  const res = await fetch(`${amUrl}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) })
  return { status: res.status, body: await res.text() }
}

/**
 * A poison alert: a state no stage can process as it is. `route` says how it is sent first; Alertmanager
 * refuses some (Go's time parser has no year 10000 and no leap second), and those go to the receiver
 * directly, as an Alertmanager webhook.
 */
export interface PoisonAlert {
  name: string
  what: string
  /**
   * `dead-letter`: some stage must put it on a dead-letter topic, and it must not be in the alerts index.
   * `unknown-severity`: the documented rule for an unknown severity word (docs/receiving.md: "an unknown
   * word is a warning, not an error") makes it a valid alert; then it must be indexed exactly once, as a
   * warning, with its label kept as sent (no prototype lookup). Dead-lettering it would drop a valid alert.
   */
  expect: 'dead-letter' | 'unknown-severity'
  route: 'alertmanager' | 'receiver'
  status: 'firing' | 'resolved'
  labels: Record<string, string>
  startsAt: string
  endsAt: string
}

const FAR_FUTURE = '10000-01-01T00:00:00Z'
const LEAP_SECOND = '2016-12-31T23:59:60Z'

/** The poison catalogue, in order; a run posts the first `count`. */
export function poisonAlerts(runId: string, count: number, now: Date): PoisonAlert[] {
  const started = new Date(now.getTime() - 60_000).toISOString()
  const inAnHour = new Date(now.getTime() + 3_600_000).toISOString()
  const big = 'x'.repeat(40 * 1024)
  const base = (k: number) => ({ alertname: `ChaosPoison${k}_${runId}`, service: `chaos-poison-${k}`, env: 'production', chaos_run: runId })
  // A label named __proto__ is an own property of the parsed JSON; spread and lookups must not treat it as the prototype.
  const protoLabel = (k: number): Record<string, string> => Object.defineProperty({ ...base(k), severity: '__proto__' }, '__proto__', { value: 'polluted', enumerable: true, writable: true, configurable: true })
  const all: PoisonAlert[] = [
    { name: 'year-10000-start', what: 'startsAt in the year 10000', expect: 'dead-letter', route: 'alertmanager', status: 'firing', labels: { ...base(0), severity: 'critical' }, startsAt: FAR_FUTURE, endsAt: '0001-01-01T00:00:00Z' },
    { name: 'label-40kb', what: 'a 40 KB label value', expect: 'dead-letter', route: 'alertmanager', status: 'firing', labels: { ...base(1), severity: 'warning', payload: big }, startsAt: started, endsAt: inAnHour },
    { name: 'proto-severity', what: 'severity __proto__', expect: 'unknown-severity', route: 'alertmanager', status: 'firing', labels: { ...base(2), severity: '__proto__' }, startsAt: started, endsAt: inAnHour },
    { name: 'leap-second-start', what: 'startsAt on a leap second', expect: 'dead-letter', route: 'alertmanager', status: 'firing', labels: { ...base(3), severity: 'critical' }, startsAt: LEAP_SECOND, endsAt: '0001-01-01T00:00:00Z' },
    { name: 'year-10000-end', what: 'a resolve with endsAt in the year 10000', expect: 'dead-letter', route: 'receiver', status: 'resolved', labels: { ...base(4), severity: 'critical' }, startsAt: started, endsAt: FAR_FUTURE },
    { name: 'label-40kb-direct', what: 'a 40 KB label value, posted to the receiver', expect: 'dead-letter', route: 'receiver', status: 'firing', labels: { ...base(5), severity: 'warning', payload: big }, startsAt: started, endsAt: '0001-01-01T00:00:00Z' },
    { name: 'proto-label-direct', what: 'severity __proto__ and a label named __proto__, posted to the receiver', expect: 'unknown-severity', route: 'receiver', status: 'firing', labels: protoLabel(6), startsAt: started, endsAt: '0001-01-01T00:00:00Z' },
    { name: 'leap-second-end', what: 'a resolve with endsAt on a leap second', expect: 'dead-letter', route: 'receiver', status: 'resolved', labels: { ...base(7), severity: 'critical' }, startsAt: started, endsAt: LEAP_SECOND },
  ]
  return all.slice(0, count)
}

/** The marker that finds a poison alert in any record: its alertname, unique to the run. */
export const poisonMarker = (p: PoisonAlert): string => p.labels.alertname!

/** A poison alert as one Alertmanager webhook notification of its own, built on a captured payload. */
export function webhookBody(p: PoisonAlert): string {
  const captured = fixture<Record<string, unknown>>('alertmanager/am-firing-3-alerts.json')
  const groupLabels = { alertname: p.labels.alertname, service: p.labels.service }
  return JSON.stringify({
    ...captured,
    receiver: 'opsreview', status: p.status, groupLabels, commonLabels: p.labels, commonAnnotations: {},
    groupKey: `{}:{alertname="${p.labels.alertname}"}`, truncatedAlerts: 0,
    alerts: [{ status: p.status, labels: p.labels, annotations: { summary: p.what }, startsAt: p.startsAt, endsAt: p.endsAt, generatorURL: '', fingerprint: `${p.name}-${p.labels.chaos_run}` }],
  })
}
