import { describe, expect, it } from 'vitest'
import { validateAlertEvent, validateAlertmanagerWebhook, type AlertmanagerWebhook } from '@opsreview/schemas'
import { fixture } from '@opsreview/testing'
import { defaultGroupingRules, parseGroupingRules } from '@opsreview/grouping'
import { normalizeAlertmanager } from './alertmanager.ts'
import { defaultIngestOptions, eventKey } from './event.ts'

const ctx = { receivedAt: new Date('2026-11-28T20:30:00.000Z'), options: defaultIngestOptions }

function load(name: string): AlertmanagerWebhook {
  const payload = fixture(`alertmanager/${name}`)
  const valid = validateAlertmanagerWebhook(payload)
  if (!valid.ok) throw new Error(`fixture ${name} is invalid: ${JSON.stringify(valid.errors)}`)
  return valid.value
}

describe('normalizeAlertmanager', () => {
  it.each([
    'am-firing-3-alerts.json',
    'am-mixed-some-resolved.json',
    'am-resolved.json',
    'am025-firing-truncated-max-alerts-2.json',
    'am025-mixed-one-resolved-truncated.json',
    'kube-prometheus-pod-crashlooping.json',
    'kube-prometheus-deployment-replicas-mismatch.json',
    'kube-prometheus-target-down.json',
    'kube-prometheus-node-filesystem-filling-up.json',
  ])('turns every alert of %s into a valid canonical event', (name) => {
    const payload = load(name)
    const { events } = normalizeAlertmanager(payload, ctx)
    expect(events).toHaveLength(payload.alerts.length)
    for (const e of events) expect(validateAlertEvent(e)).toEqual({ ok: true, value: e })
  })

  it('handles a mixed group alert by alert, and reads the zero endsAt as still firing', () => {
    const { events, truncatedAlerts } = normalizeAlertmanager(load('am025-mixed-one-resolved-truncated.json'), ctx)
    expect(truncatedAlerts).toBe(1)
    const [resolved, firing] = events
    expect(resolved).toMatchObject({
      status: 'resolved', fingerprint: '34fc7e79f23863fc', service: 'checkout', environment: 'production',
      severity: 'critical', startsAt: '2026-11-28T20:28:30.000Z', endsAt: '2026-11-28T20:28:37.000Z',
      title: '5xx rate above 5%', description: 'checkout 5xx ratio is 12%',
    })
    expect(firing).toMatchObject({ status: 'firing', fingerprint: 'd1a7f99944274c97' })
    expect(firing).not.toHaveProperty('endsAt')
    expect(firing?.origin).toMatchObject({ receiver: 'opsreview', groupKey: '{}:{alertname="HighErrorRate", service="checkout"}', externalURL: 'http://vm:9093' })
    expect(resolved?.links).toEqual([{ rel: 'generator', href: 'http://prometheus:9090/graph?g0.expr=x' }])
  })

  it('gives a redelivered notification the same ids, and a state change a new one', () => {
    const payload = load('am025-firing-truncated-max-alerts-2.json')
    const first = normalizeAlertmanager(payload, ctx).events.map((e) => e.id)
    const again = normalizeAlertmanager(structuredClone(payload), { ...ctx, receivedAt: new Date('2026-11-28T21:00:00Z') }).events.map((e) => e.id)
    expect(again).toEqual(first)
    const resolvedPayload = structuredClone(payload)
    for (const a of resolvedPayload.alerts) { a.status = 'resolved'; a.endsAt = '2026-11-28T20:40:00Z' }
    const resolvedIds = normalizeAlertmanager(resolvedPayload, ctx).events.map((e) => e.id)
    expect(resolvedIds.some((id) => first.includes(id))).toBe(false)
  })

  it('derives a stable fingerprint from the labels when an older sender omits it', () => {
    const payload = load('am-firing-3-alerts.json')
    const withoutFp = structuredClone(payload)
    for (const a of withoutFp.alerts) delete a.fingerprint
    const reordered = structuredClone(withoutFp)
    reordered.alerts[0]!.labels = Object.fromEntries(Object.entries(reordered.alerts[0]!.labels).reverse()) as typeof reordered.alerts[0]['labels']
    const a = normalizeAlertmanager(withoutFp, ctx).events
    const b = normalizeAlertmanager(reordered, ctx).events
    expect(a[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(b[0]!.fingerprint).toBe(a[0]!.fingerprint)
    expect(new Set(a.map((e) => e.fingerprint)).size).toBe(a.length)
  })

  it('takes service and environment from the grouping rules, in order', () => {
    const payload = load('am-firing-3-alerts.json')
    const [e] = normalizeAlertmanager(payload, ctx).events
    // A kube-state-metrics alert names the crashing container, and `cluster` the environment, never `namespace`.
    expect(e).toMatchObject({ service: 'checkout-api', environment: 'prod-eu-1', labels: { namespace: 'checkout' } })
    const rules = parseGroupingRules('{"version":1,"service":{"labels":["team"],"rules":[]},"environment":{"labels":["namespace"]}}', 'json')
    if (!rules.ok) throw new Error('rules')
    const custom = normalizeAlertmanager(payload, { ...ctx, options: { ...defaultIngestOptions, grouping: rules.rules } }).events[0]
    expect(custom).toMatchObject({ service: 'payments', environment: 'checkout' })
    expect(eventKey(custom!)).toBe(`alertmanager:${custom!.fingerprint}`)
  })

  it('names kube-prometheus-stack alerts after the workload, with the environment from env, environment or cluster', () => {
    const mapped = (name: string) => normalizeAlertmanager(load(`kube-prometheus-${name}.json`), ctx).events.map((e) => [e.labels.alertname, e.service, e.environment])
    expect(mapped('pod-crashlooping')).toEqual([
      ['KubePodCrashLooping', 'checkout', 'production'],
      ['KubePodCrashLooping', 'checkout', 'production'],
      ['KubePodCrashLooping', 'cart', 'production'],
    ])
    expect(mapped('deployment-replicas-mismatch')).toEqual([['KubeDeploymentReplicasMismatch', 'checkout', 'production']])
    expect(mapped('target-down')).toEqual([['TargetDown', 'checkout', 'staging']])
    expect(mapped('node-filesystem-filling-up')).toEqual([['NodeFilesystemSpaceFillingUp', 'node-exporter', 'production']])
    for (const name of ['pod-crashlooping', 'deployment-replicas-mismatch', 'target-down', 'node-filesystem-filling-up']) {
      for (const e of normalizeAlertmanager(load(`kube-prometheus-${name}.json`), ctx).events) expect(validateAlertEvent(e).ok).toBe(true)
    }
  })

  it('falls back to the alertname when no label names the service, and to the rules default environment', () => {
    const payload = load('kube-prometheus-target-down.json')
    payload.alerts[0]!.labels = { alertname: 'Watchdog', severity: 'none' }
    const rules = parseGroupingRules('{"version":1,"environment":{"default":"prd"}}', 'json')
    if (!rules.ok) throw new Error('rules')
    expect(normalizeAlertmanager(payload, ctx).events[0]).toMatchObject({ service: 'Watchdog', environment: defaultGroupingRules.environment.default })
    expect(normalizeAlertmanager(payload, { ...ctx, options: { ...defaultIngestOptions, grouping: rules.rules } }).events[0]).toMatchObject({ environment: 'prd' })
  })

  it('passes over a service or environment label that is blank or holds a control character, keeping the label as sent', () => {
    const payload = load('am-firing-3-alerts.json')
    const base = { alertname: 'HighErrorRate', severity: 'critical' }
    const cases: [Record<string, string>, string, string][] = [
      // C0: a line break, a NUL, an ESC sequence a terminal would colour.
      [{ service: 'checkout\n', 'app.kubernetes.io/name': 'checkout-api', env: 'staging' }, 'checkout-api', 'staging'],
      [{ service: '\u0000', app: 'cart', env: 'prod\u0000', environment: 'qa' }, 'cart', 'qa'],
      [{ service: '\u001b[31mcheckout', container: 'checkout', cluster: 'eu-1' }, 'checkout', 'eu-1'],
      // DEL and C1 (U+0085 NEL, U+009F).
      [{ service: 'checkout\u007f', job: 'checkout-pods', env: '\u007f' }, 'checkout-pods', 'production'],
      [{ service: 'check\u0085out', app: 'x\u009f', job: 'billing', environment: 'qa\u0080' }, 'billing', 'production'],
      // Blank: spaces, a no-break space.
      [{ service: '   ', 'app.kubernetes.io/name': '\u00a0', app: 'search', env: ' ', cluster: 'us-2' }, 'search', 'us-2'],
      // Nothing usable: the alert's name and the rules' default environment, as for an alert without such labels.
      [{ service: '\t', 'app.kubernetes.io/name': ' ', app: '\r\n', container: '\u0090', job: '', env: '\n', environment: '\u0000', cluster: '  ' }, 'HighErrorRate', 'production'],
      // Nor the alert's name: the service is that name made findable (schemas take any alertname).
      [{ alertname: 'High\nError\u0000Rate', service: ' ' }, 'High Error Rate', 'production'],
      [{ alertname: ' \u0085 ' }, 'unnamed', 'production'],
    ]
    for (const [extra, service, environment] of cases) {
      const labels = { ...base, ...extra }
      payload.alerts = [{ ...payload.alerts[0]!, labels }]
      const valid = validateAlertmanagerWebhook(structuredClone(payload))
      expect(valid.ok).toBe(true)
      const [e] = normalizeAlertmanager(payload, ctx).events
      expect(e).toMatchObject({ service, environment })
      expect(e!.labels).toEqual(labels)
      expect(validateAlertEvent(e).ok).toBe(true)
    }
  })

  it('names a kube-prometheus-stack alert whose workload label holds a control character by the next label, the others of the group as before', () => {
    const payload = load('kube-prometheus-pod-crashlooping.json')
    payload.alerts[0]!.labels.container = 'checkout\u0000'
    payload.alerts[2]!.labels.cluster = 'prod-eu-1\u0085'
    const events = normalizeAlertmanager(payload, ctx).events
    // The exporter rule's precedence goes on from `container` to `job`.
    expect(events.map((e) => [e.service, e.environment])).toEqual([['kube-state-metrics', 'production'], ['checkout', 'production'], ['cart', 'production']])
    expect(events[0]!.labels.container).toBe('checkout\u0000')
    expect(events[2]!.labels.cluster).toBe('prod-eu-1\u0085')
    const mismatch = load('kube-prometheus-deployment-replicas-mismatch.json')
    mismatch.alerts[0]!.labels.deployment = 'checkout\n'
    // kube-state-metrics' own series: its container and job never name it, so the alert's name does.
    expect(normalizeAlertmanager(mismatch, ctx).events[0]).toMatchObject({ service: 'KubeDeploymentReplicasMismatch', labels: { deployment: 'checkout\n' } })
  })

  it('accepts fields only newer Alertmanagers send, and unknown ones', () => {
    const payload = { ...load('am-mixed-some-resolved.json'), notification_reason: 'resolved', routeLabels: { team: 'x' }, somethingNew: [1] }
    expect(validateAlertmanagerWebhook(payload).ok).toBe(true)
  })

  it('gives a resolve without an end time the same id on each redelivery, though its endsAt is the receipt', () => {
    for (const given of [undefined, '0001-01-01T00:00:00Z']) {
      const payload = load('am025-mixed-one-resolved-truncated.json')
      if (given === undefined) delete payload.alerts[0]!.endsAt
      else payload.alerts[0]!.endsAt = given
      const [first] = normalizeAlertmanager(payload, ctx).events
      const [retry] = normalizeAlertmanager(structuredClone(payload), { ...ctx, receivedAt: new Date('2026-11-28T20:30:05Z') }).events
      expect([first!.endsAt, retry!.endsAt]).toEqual(['2026-11-28T20:30:00.000Z', '2026-11-28T20:30:05.000Z'])
      expect(retry!.id).toBe(first!.id)
      const firing = structuredClone(payload)
      firing.alerts[0]!.status = 'firing'
      expect(normalizeAlertmanager(firing, ctx).events[0]!.id).not.toBe(first!.id)
    }
  })

  it('uses the time it heard of a resolve when the sender gives no end time', () => {
    const payload = load('am025-mixed-one-resolved-truncated.json')
    payload.alerts[0]!.endsAt = '0001-01-01T00:00:00Z'
    const [resolved] = normalizeAlertmanager(payload, ctx).events
    expect(resolved!.endsAt).toBe('2026-11-28T20:30:00.000Z')
  })
})
