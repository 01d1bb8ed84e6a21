import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { validateAlertEvent } from '@opsreview/schemas'
import { fixture } from '@opsreview/testing'
import { defaultIngestOptions } from './event.ts'
import { intakeAlertmanager, intakePingdom, intakeReport, singleAlertWebhook } from './intake.ts'

const receivedAt = new Date('2026-11-28T20:30:00.000Z')
const ctx = { receivedAt, options: defaultIngestOptions }
const DAY = 86_400_000

function webhook(...alerts: unknown[]): Record<string, unknown> {
  return { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{}', commonLabels: { team: 'x' }, truncatedAlerts: 3, alerts }
}
const good = (fp: string, patch: Record<string, unknown> = {}) => ({
  status: 'firing', labels: { alertname: 'HighErrorRate', service: 'checkout' }, startsAt: '2026-11-28T20:00:00Z', fingerprint: fp, ...patch,
})
const at = (ms: number) => new Date(ms).toISOString()

describe('intakeAlertmanager', () => {
  it('accepts the good alerts of a webhook and refuses the bad ones alone, naming their fields', () => {
    const r = intakeAlertmanager(webhook(
      good('a'),
      good('b', { startsAt: '9999-12-31T23:59:59-23:59' }),
      good('c', { labels: { alertname: 'X', service: 'x'.repeat(40_000) } }),
      good('d', { startsAt: '2016-12-31T23:59:60Z' }),
      good('e', { startsAt: '2026-11-28T20:00:00+01' }),
      good('f'),
    ), ctx)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.accepted.map((a) => a.index)).toEqual([0, 5])
    for (const { event } of r.accepted) expect(validateAlertEvent(event).ok).toBe(true)
    expect(r.rejected.map((x) => [x.index, x.reason, x.errors[0]!.path])).toEqual([
      [1, 'schema-invalid', '/alerts/1/startsAt'],
      [2, 'schema-invalid', '/alerts/2/labels/service'],
      [3, 'schema-invalid', '/alerts/3/startsAt'],
      [4, 'schema-invalid', '/alerts/4/startsAt'],
    ])
    expect(r.truncatedAlerts).toBe(3)
  })

  it('refuses alone an alert with a NUL in a label or annotation name, which Elasticsearch would refuse to index after the 2xx', () => {
    const r = intakeAlertmanager(webhook(good('a', { labels: { alertname: 'A', 'k8s\u0000label': 'x' } }), good('b', { annotations: { 'run\u0000book': 'y' } }), good('c')), ctx)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.accepted.map((a) => a.index)).toEqual([2])
    expect(r.rejected.map((x) => [x.index, x.reason, x.errors])).toEqual([
      [0, 'schema-invalid', [{ path: '/alerts/0/labels/k8s\u0000label', message: 'name must match pattern "^[^\\u0000]*$"' }]],
      [1, 'schema-invalid', [{ path: '/alerts/1/annotations/run\u0000book', message: 'name must match pattern "^[^\\u0000]*$"' }]],
    ])
  })

  it('refuses the body as a whole for a fault outside the alerts', () => {
    const r = intakeAlertmanager({ ...webhook(good('a')), receiver: 7, version: '3' }, ctx)
    expect(r).toMatchObject({ ok: false, reason: 'schema-invalid' })
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/receiver', '/version'])
    expect(intakeAlertmanager(null, ctx).ok).toBe(false)
    expect(intakeAlertmanager({ ...webhook(), alerts: [] }, ctx).ok).toBe(false)
  })

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('reads a severity label %s as an unknown word: warning', (word) => {
    const r = intakeAlertmanager(JSON.parse(JSON.stringify(webhook(good('a', { labels: { alertname: 'A', severity: word } })))), ctx)
    expect(r.ok && r.accepted[0]!.event.severity).toBe('warning')
  })

  it('keeps a label named __proto__ as a label, and no annotation is read from the prototype', () => {
    const body = JSON.parse(`{"version":"4","status":"firing","receiver":"r","groupKey":"g","alerts":[{"status":"firing","startsAt":"2026-11-28T20:00:00Z",
      "labels":{"alertname":"A","__proto__":"x","constructor":"y"},"annotations":{"__proto__":"z"}}]}`) as unknown
    const r = intakeAlertmanager(body, ctx)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const { event } = r.accepted[0]!
    expect(Object.hasOwn(event.labels, '__proto__')).toBe(true)
    expect(event.title).toBe('A')
    expect(JSON.stringify(event.labels)).toBe('{"alertname":"A","__proto__":"x","constructor":"y"}')
  })

  it('accepts long-running alerts and a sender clock a little ahead, refuses times outside the bounds', () => {
    const r = intakeAlertmanager(webhook(
      good('year-old', { startsAt: at(receivedAt.getTime() - 365 * DAY) }),
      good('ahead', { startsAt: at(receivedAt.getTime() + 30 * 60_000) }),
      good('ancient', { startsAt: '1970-01-01T00:00:00Z' }),
      good('future', { startsAt: at(receivedAt.getTime() + 2 * 3_600_000) }),
      good('ends-future', { status: 'resolved', endsAt: at(receivedAt.getTime() + 2 * 3_600_000) }),
    ), ctx)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.accepted.map((a) => a.event.fingerprint)).toEqual(['year-old', 'ahead'])
    expect(r.rejected.map((x) => [x.index, x.reason, x.errors[0]!.path, x.errors[0]!.message])).toEqual([
      [2, 'event-invalid', '/alerts/2/startsAt', 'must not be more than 730 days before the time received (1970-01-01T00:00:00.000Z)'],
      [3, 'event-invalid', '/alerts/3/startsAt', expect.stringMatching(/^must not be more than 1 hour after the time received/)],
      [4, 'event-invalid', '/alerts/4/endsAt', expect.stringMatching(/^must not be more than 1 hour after/)],
    ])
  })

  it('cuts a long summary to the title cap instead of refusing the alert', () => {
    const r = intakeAlertmanager(webhook(good('a', { annotations: { summary: 'word '.repeat(1000) } })), ctx)
    expect(r.ok && Array.from(r.accepted[0]!.event.title)).toHaveLength(1024)
  })

  it('passes over a service or environment label longer than its name may be, as over a blank one, keeping the labels as sent', () => {
    const labels = { alertname: 'A', service: 's'.repeat(300), app: 'web', env: 'e'.repeat(129) }
    const r = intakeAlertmanager(webhook(good('a', { labels })), ctx)
    expect(r.ok && r.rejected).toEqual([])
    expect(r.ok && r.accepted[0]!.event).toMatchObject({ service: 'web', environment: 'production', labels })
    // Nothing else names it: the alertname, cut to a service's 256 code points.
    const unnamed = intakeAlertmanager(webhook(good('b', { labels: { alertname: 'A'.repeat(300), service: 's'.repeat(300) } })), ctx)
    expect(unnamed.ok && unnamed.accepted[0]!.event.service).toBe('A'.repeat(256))
  })

  it('leaves a link too long for the event out of its links, naming it in the origin, instead of refusing the alert', () => {
    // A Prometheus graph link of a rule matching 400 services, as Prometheus writes it: 9 KB.
    const expr = encodeURIComponent(`sum by (job) (rate(http_requests_total{job=~"${Array.from({ length: 400 }, (_, i) => `service-${i}`).join('|')}",code=~"5.."}[5m])) > 0.05`)
    const generatorURL = `http://prometheus:9090/graph?g0.expr=${expr}&g0.tab=1`
    const runbook = `https://runbooks.example/${'x'.repeat(5000)}`
    const atCap = `https://dashboards.example/${'d'.repeat(4096 - 27)}`
    expect(atCap).toHaveLength(4096)
    const r = intakeAlertmanager(webhook(
      good('a', { generatorURL, annotations: { runbook_url: 'https://runbooks.example/a' } }),
      good('b', { generatorURL: 'http://prometheus:9090/graph', annotations: { runbook_url: runbook, dashboard_url: atCap } }),
    ), ctx)
    expect(r.ok && r.rejected).toEqual([])
    const [a, b] = r.ok ? r.accepted.map((x) => x.event) : []
    expect(a!.links).toEqual([{ rel: 'runbook', href: 'https://runbooks.example/a' }])
    expect(a!.origin.linksLeftOut).toEqual(['generator'])
    expect(b!.links).toEqual([{ rel: 'generator', href: 'http://prometheus:9090/graph' }, { rel: 'dashboard', href: atCap }])
    expect(b!.origin.linksLeftOut).toEqual(['runbook'])
    // The runbook stays where the sender put it: in the annotations, kept as sent.
    expect((b!.origin.annotations as Record<string, string>).runbook_url).toBe(runbook)
    for (const e of [a!, b!]) expect(validateAlertEvent(e).ok).toBe(true)
  })

  it('refuses an event larger than the event cap', () => {
    const annotations = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, 'x'.repeat(16_000)]))
    const r = intakeAlertmanager(webhook(good('a', { annotations })), ctx)
    expect(r.ok && r.rejected[0]).toMatchObject({
      reason: 'event-invalid',
      errors: [{ path: '/alerts/0/annotations', message: expect.stringMatching(/^the event is 16\d{4} bytes serialised, more than 131072, 160\d{3} of them from annotations$/) }],
    })
  })

  it('names the part that makes an event too large: many labels, the annotations, or the one annotation that is most of them', () => {
    // Each within its own cap (4,096 characters a label value, 16,384 an annotation), too large together.
    const bigLabels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v'.repeat(4000)]))
    const r = intakeAlertmanager(webhook(
      good('a'),
      good('b', { labels: { alertname: 'B', ...bigLabels(40) } }),
      // 64 KB of emoji in one annotation, 32 KB in another: the first is most of the annotations.
      good('c', { labels: { alertname: 'C', ...bigLabels(10) }, annotations: { 'note/x': '\u{1F525}'.repeat(16_000), other: '\u{1F525}'.repeat(8000) } }),
      // The description is in the event twice (its own field, and the annotations kept as sent): 2 × 72 KB
      // of escaped control characters outweigh 76 KB of labels.
      good('d', { labels: { alertname: 'D', ...bigLabels(19) }, annotations: { description: '\u001b'.repeat(12_000) } }),
      // Three annotations alike: none is most of them.
      good('e', { annotations: { a: '\u{1F525}'.repeat(12_000), b: '\u{1F525}'.repeat(12_000), c: '\u{1F525}'.repeat(12_000) } }),
      // Without a summary the title is the alertname label's: 2 × 6 KB more for the labels, none for the annotations.
      good('f', { labels: { alertname: '\u001b'.repeat(1000), ...bigLabels(14) }, annotations: { note: '\u{1F525}'.repeat(16_000) } }),
    ), ctx)
    expect(r.ok && r.rejected.map((x) => [x.index, x.errors.map((e) => e.path)])).toEqual([
      [1, ['/alerts/1/labels']],
      [2, ['/alerts/2/annotations/note~1x']],
      [3, ['/alerts/3/annotations/description']],
      [4, ['/alerts/4/annotations']],
      [5, ['/alerts/5/labels']],
    ])
    expect(r.ok && r.rejected.map((x) => x.errors[0]!.message)).toEqual([
      expect.stringMatching(/^the event is 160\d{3} bytes serialised, more than 131072, 160\d{3} of them from labels$/),
      expect.stringMatching(/^the event is 13\d{4} bytes serialised, more than 131072, 96\d{3} of them from annotations \(640\d{2} from note\/x\)$/),
      expect.stringMatching(/^the event is 22\d{4} bytes serialised, more than 131072, 144\d{3} of them from annotations \(144\d{3} from description\)$/),
      expect.stringMatching(/^the event is 14\d{4} bytes serialised, more than 131072, 144\d{3} of them from annotations$/),
      expect.stringMatching(/^the event is 13\d{4} bytes serialised, more than 131072, 68\d{3} of them from labels$/),
    ])
  })

  it('takes a group key of any length, carrying one over 1,024 characters as its digest: one per key, the same on a replay', () => {
    // kube-prometheus-stack routed by a long namespace regex and grouped by every label (group_by: ['...']):
    // the key holds the route's matchers and the alert's labels, 11 KB here.
    const payload = fixture<Record<string, unknown> & { alerts: { labels: Record<string, string> }[] }>('alertmanager/kube-prometheus-node-filesystem-filling-up.json')
    const route = `{}/{namespace=~"^(?:${Array.from({ length: 1200 }, (_, i) => `team-${i}`).join('|')})$"}`
    const labelSet = (labels: Record<string, string>) => `{${Object.entries(labels).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`
    const keyOf = (labels: Record<string, string>) => `${route}:${labelSet(labels)}`
    const labels = payload.alerts[0]!.labels
    const other = { ...labels, instance: '10.0.3.18:9100' }
    const long = { ...payload, groupKey: keyOf(labels) }
    expect(long.groupKey.length).toBeGreaterThan(8192)
    const first = intakeAlertmanager(long, ctx)
    const again = intakeAlertmanager({ ...payload, groupKey: keyOf(labels) }, ctx)
    const another = intakeAlertmanager({ ...payload, groupKey: keyOf(other), alerts: [{ ...payload.alerts[0]!, labels: other }] }, ctx)
    const keyIn = (r: ReturnType<typeof intakeAlertmanager>) => (r.ok ? r.accepted[0]!.event.origin.groupKey : r.errors)
    expect(keyIn(first)).toBe(`sha256:${createHash('sha256').update(long.groupKey).digest('hex')}`)
    expect(keyIn(again)).toBe(keyIn(first))
    expect(keyIn(another)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(keyIn(another)).not.toBe(keyIn(first))
    // A key within the bound is carried as sent, a digest included: a replay posting it maps to it again.
    // 1,024 code points in more UTF-16 units (astral characters) are within it too.
    const atBound = `{}:{${'k'.repeat(1019)}}`
    expect(atBound).toHaveLength(1024)
    const astral = `{}:{${'\u{1F600}'.repeat(1019)}}`
    expect(astral.length).toBeGreaterThan(1024)
    expect(keyIn(intakeAlertmanager({ ...payload, groupKey: astral }, ctx))).toBe(astral)
    expect(keyIn(intakeAlertmanager({ ...payload, groupKey: atBound }, ctx))).toBe(atBound)
    const replay = singleAlertWebhook(long, 0)
    expect(replay.groupKey).toBe(keyIn(first))
    expect(intakeAlertmanager(JSON.parse(JSON.stringify(replay)), ctx)).toMatchObject({ ok: true, accepted: [{ event: first.ok ? first.accepted[0]!.event : {} }] })
  })

  it('refuses a notification of more alerts than it may hold whole, before the schema lists an error per alert', () => {
    const r = intakeAlertmanager(webhook(...Array.from({ length: 50_001 }, () => 1)), ctx)
    expect(r).toEqual({ ok: false, reason: 'schema-invalid', errors: [{ path: '/alerts', message: 'must NOT have more than 50000 items' }] })
  })

  it('lists the errors of a malformed notification\'s alerts up to a budget, then tells the rest apart by their first error', () => {
    // 127 labels whose values are not strings: 127 errors an alert, 200 alerts past the budget of 20,000.
    const labels: Record<string, unknown> = { alertname: 'Bad' }
    for (let i = 0; i < 127; i++) labels[`l${i}`] = 1
    const bad = Array.from({ length: 200 }, (_, i) => good(`b${i}`, { labels }))
    const r = intakeAlertmanager(webhook(...bad, good('ok')), ctx)
    if (!r.ok) throw new Error('expected the notification taken')
    expect(r.accepted.map((x) => x.event.fingerprint)).toEqual(['ok'])
    const counts = r.rejected.map((x) => x.errors.length)
    expect(counts).toHaveLength(200)
    // Every error listed until the budget is spent (158 × 127 = 20,066), then one each.
    expect(counts.slice(0, 158)).toEqual(Array.from({ length: 158 }, () => 127))
    expect(counts.slice(158)).toEqual(Array.from({ length: 42 }, () => 1))
    expect(r.rejected[199]!.errors).toEqual([{ path: '/alerts/199/labels/l0', message: 'must be string' }])
  })

  it('refuses a notification whose common labels hold more entries than Alertmanager\'s can, with one error', () => {
    const commonLabels: Record<string, unknown> = {}
    for (let i = 0; i < 100_000; i++) commonLabels[`k${i}`] = 1
    expect(intakeAlertmanager({ ...webhook(good('a')), commonLabels }, ctx)).toEqual({
      ok: false, reason: 'schema-invalid', errors: [{ path: '/commonLabels', message: 'must NOT have more than 1000 properties' }],
    })
  })

  it('refuses an alert of more labels or annotations than an event may hold with one error each, not one per entry', () => {
    // 200,000 labels whose values are not strings: validated entry by entry, ajv made an error of each.
    const labels: Record<string, unknown> = { alertname: 'Wide' }
    for (let i = 0; i < 200_000; i++) labels[`l${i}`] = 1
    const annotations = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, 'x']))
    const r = intakeAlertmanager(webhook(good('a'), good('b', { labels }), good('c', { annotations })), ctx)
    expect(r.ok && r.accepted.map((x) => x.index)).toEqual([0])
    expect(r.ok && r.rejected).toEqual([
      { index: 1, reason: 'schema-invalid', errors: [{ path: '/alerts/1/labels', message: 'must NOT have more than 128 properties' }] },
      { index: 2, reason: 'schema-invalid', errors: [{ path: '/alerts/2/annotations', message: 'must NOT have more than 64 properties' }] },
    ])
  })

  it('makes a one-alert replay webhook that maps to the same event, without the group\'s extras', () => {
    const payload = webhook(good('a'), good('b', { startsAt: 'soon' }))
    const first = intakeAlertmanager(payload, ctx)
    const replay = singleAlertWebhook(payload, 0)
    expect(replay).not.toHaveProperty('truncatedAlerts')
    expect(replay).not.toHaveProperty('commonLabels')
    const again = intakeAlertmanager(JSON.parse(JSON.stringify(replay)), ctx)
    expect(again.ok && again.accepted[0]!.event).toEqual(first.ok && first.accepted[0]!.event)
  })

  it('maps every captured fixture without refusing an alert', () => {
    for (const name of ['am-firing-3-alerts.json', 'am-mixed-some-resolved.json', 'am-resolved.json', 'am025-firing-truncated-max-alerts-2.json', 'am025-mixed-one-resolved-truncated.json']) {
      const payload = fixture<{ alerts: unknown[] }>(`alertmanager/${name}`)
      const r = intakeAlertmanager(payload, ctx)
      expect(r.ok && r.rejected).toEqual([])
      expect(r.ok && r.accepted).toHaveLength(payload.alerts.length)
    }
  })
})

describe('intakePingdom and intakeReport', () => {
  const down = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')
  const pingdomCtx = { receivedAt: new Date(((down.state_changed_timestamp as number) + 60) * 1000), options: defaultIngestOptions }

  it('accepts the fixtures', () => {
    for (const name of ['pingdom-http-down.json', 'pingdom-http-up.json', 'pingdom-transaction-failing.json']) {
      const body = fixture<Record<string, unknown>>(`pingdom/${name}`)
      expect(intakePingdom(body, { receivedAt: new Date(((body.state_changed_timestamp as number) + 60) * 1000), options: defaultIngestOptions }).ok).toBe(true)
    }
  })

  it('refuses a timestamp beyond what Date holds, and one outside the bounds, naming state_changed_timestamp', () => {
    expect(intakePingdom({ ...down, state_changed_timestamp: 1e17 }, pingdomCtx)).toMatchObject({ ok: false, reason: 'schema-invalid', errors: [{ path: '/state_changed_timestamp' }] })
    expect(intakePingdom({ ...down, state_changed_timestamp: 0 }, pingdomCtx)).toMatchObject({ ok: false, reason: 'event-invalid', errors: [{ path: '/state_changed_timestamp' }] })
  })

  it('refuses a check name too long for a service name', () => {
    expect(intakePingdom({ ...down, check_name: 'c'.repeat(300) }, pingdomCtx)).toMatchObject({ ok: false, errors: [{ path: '/check_name' }] })
  })

  // The check name becomes the service and the alert's name, which the review's filters refuse blank or
  // holding a control character: accepted, such an alert could never be found by its service.
  it.each(['', '   ', '\u3000', 'shop\u0000api', 'shop\napi', 'tab\there', '\u001b[31mred', 'del\u007f', 'c1\u0085nel', '\u009b31mred'])('refuses the check name %j, naming /check_name', (name) => {
    const r = intakePingdom({ ...down, check_name: name }, pingdomCtx)
    expect(r).toMatchObject({ ok: false, reason: 'schema-invalid' })
    if (r.ok) return
    expect(r.errors.map((e) => e.path)).toEqual(r.errors.map(() => '/check_name'))
    expect(r.errors).toContainEqual({ path: '/check_name', message: 'must not be blank or hold control characters' })
  })

  it('refuses a tag holding a control character, naming it: a tag can name the service', () => {
    expect(intakePingdom({ ...down, tags: ['team:a', 'service:shop\u0000api'] }, pingdomCtx)).toMatchObject({ ok: false, errors: [{ path: '/tags/1' }] })
    expect(intakePingdom({ ...down, tags: ['env:pr\u0085od'] }, pingdomCtx)).toMatchObject({ ok: false, errors: [{ path: '/tags/0' }] })
    expect(intakePingdom({ ...down, tags: ['service:shop api', ''] }, pingdomCtx)).toMatchObject({ ok: true, event: { service: 'shop api' } })
  })

  it.each(['Shop API health (prod)', ' padded ', 'Café – 山田 ✓', 'emoji 🚀', 'nbsp\u00a0ok'])('takes the printable check name %j', (name) => {
    expect(intakePingdom({ ...down, check_name: name }, pingdomCtx)).toMatchObject({ ok: true, event: { service: name, labels: { alertname: name } } })
  })

  it('names an unknown field of a report by a JSON Pointer, escaped', () => {
    const report = { kind: 'manual', service: 's', title: 't', reportedBy: 'me', 'a/b~c': 1 }
    expect(intakeReport(report, ctx)).toMatchObject({ ok: false, reason: 'schema-invalid', errors: [{ path: '/a~1b~0c', message: 'must NOT have additional properties' }] })
  })

  it('refuses a report that occurred outside the bounds, naming occurredAt', () => {
    const report = { kind: 'manual', service: 's', title: 't', reportedBy: 'me' }
    expect(intakeReport({ ...report, occurredAt: '2026-11-28T10:00:00Z' }, ctx).ok).toBe(true)
    expect(intakeReport({ ...report, occurredAt: '2030-01-01T00:00:00Z' }, ctx)).toMatchObject({ ok: false, reason: 'event-invalid', errors: [{ path: '/occurredAt' }] })
    expect(intakeReport({ ...report, occurredAt: '2026-11-28T10:00:00+01' }, ctx)).toMatchObject({ ok: false, reason: 'schema-invalid', errors: [{ path: '/occurredAt' }] })
  })
})
