// The notification-group join under late delivery: the same alerts give the same incidents (members, group
// key, opening) in order and late, where the late-event rule says they do (docs/grouping.md).
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { compileGroupingRules } from '@opsreview/grouping'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { AlertEvent, EngineInput } from './types.ts'

const T0 = Date.parse('2026-11-28T10:00:00.000Z')
const MIN = 60_000
const isoOf = (t: number) => new Date(t).toISOString()

// Crash loops grouped per pod by a rule; everything else by the default `by` with the instance. All of
// service checkout, all in the shop namespace's notification.
const rules = compileGroupingRules({ version: 1, groupBy: { default: ['service', 'labels.instance'], rules: [
  { name: 'crash loops per pod', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*' } } }, by: ['labels.namespace', 'labels.pod'] },
] } })

/** A crash loop of pod `pod` (rule-grouped) or a replica mismatch seen by instance `instance` (default-grouped), firing at T0 + `min`. */
function alert(fp: string, labels: Record<string, string>, min: number): AlertEvent {
  const startsAt = isoOf(T0 + min * MIN)
  return {
    id: createHash('sha256').update(`alertmanager|${fp}|firing|${startsAt}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status: 'firing', severity: 'warning', service: 'checkout', environment: 'production',
    title: labels.alertname!, labels: { namespace: 'shop', ...labels }, startsAt, receivedAt: startsAt, links: [],
    origin: { receiver: 'shop', groupKey: '{}:{namespace="shop"}' },
  }
}
const crash = (fp: string, pod: string, min: number) => alert(fp, { alertname: 'KubePodCrashLooping', pod }, min)
const mismatch = (fp: string, instance: string, min: number) => alert(fp, { alertname: 'KubeDeploymentReplicasMismatch', instance }, min)

const inOrder = (events: AlertEvent[]): EngineInput[] =>
  [...events].sort((a, b) => a.startsAt.localeCompare(b.startsAt)).map((event) => ({ type: 'alert', event }))
/** In the order given, each received at T0 + `at` minutes (late for all but the newest). */
const late = (events: AlertEvent[], at: number): EngineInput[] => events.map((event) => ({ type: 'alert', event: { ...event, receivedAt: isoOf(T0 + at * MIN) } }))

function run(inputs: EngineInput[], engine = new CorrelationEngine({ grouping: rules })) {
  for (const input of inputs) engine.apply(input)
  return engine
}
/** What must not depend on delivery (ids may, for late events outside a held backlog): members, group, span. */
const shape = (engine: CorrelationEngine) => engine.incidents()
  .map((i) => ({ members: i.alerts.map((a) => a.fingerprint).sort().join(','), groupKey: i.groupKey, openedAt: i.openedAt, resolvedAt: i.resolvedAt }))
  .sort((a, b) => a.members.localeCompare(b.members))

describe('a late rule-grouped alert takes the incident its notification group opened after it', () => {
  it('makes it an incident a rule-grouped alert opened: another rule group’s late crash loop does not join it too', () => {
    // In order pod a's crash loop (10:00) opens an incident, pod b's (10:10) another, and the mismatch (10:20)
    // joins the newest: two rule groups are never one incident.
    const events = [crash('c1', 'checkout-a', 0), crash('c2', 'checkout-b', 10), mismatch('m', 'i1', 20)]
    const expected = shape(run(inOrder(events)))
    expect(expected.map((i) => i.members)).toEqual(['c1', 'c2,m'])
    // Late, newest first: pod b's crash loop takes the mismatch's incident; pod a's, older still, joined it too.
    expect(shape(run(late([events[2]!, events[1]!, events[0]!], 30)))).toEqual(expected)
  })

  it('makes it an incident a rule-grouped alert opened: a late default-grouped alert from before it does not join', () => {
    // In order the mismatch seen by i0 (10:00) opens an incident; the crash loop (10:02) opens its own, which
    // the mismatch seen by i1 (10:20, another default group) joins through the notification.
    const events = [mismatch('m0', 'i0', 0), crash('c', 'checkout-a', 2), mismatch('m1', 'i1', 20)]
    const expected = shape(run(inOrder(events)))
    expect(expected.map((i) => i.members)).toEqual(['c,m1', 'm0'])
    expect(shape(run(late([events[2]!, events[1]!, events[0]!], 30)))).toEqual(expected)
    // The same across a restart after the crash loop.
    const first = run(late([events[2]!, events[1]!], 30))
    const restarted = new CorrelationEngine({ grouping: rules }, JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot)
    expect(shape(run(late([events[0]!], 30), restarted))).toEqual(expected)
  })
})

describe('a late default-grouped alert and the rule-grouped incident of its notification group', () => {
  /** The alert's resolve at T0 + `min`. */
  const resolved = (e: AlertEvent, min: number): AlertEvent => ({
    ...e, id: createHash('sha256').update(`alertmanager|${e.fingerprint}|resolved|${isoOf(T0 + min * MIN)}`).digest('hex').slice(0, 32),
    status: 'resolved', endsAt: isoOf(T0 + min * MIN), receivedAt: isoOf(T0 + min * MIN),
  })
  it('joins that incident, resolved since, whose span holds its time, as it joined it open in order', () => {
    // The crash loop fires 10:00 to 10:05; the mismatch 10:07 to 10:08 joins its incident through the
    // notification within the quiet period. Spooled through an outage, the mismatch comes at 10:30, after the
    // crash loop's incident resolved (10:10): until 2026-12-06 it opened an incident of its own.
    const c = crash('c', 'checkout-a', 0)
    const m = mismatch('m', 'i1', 7)
    // Another service's alert at 10:29 moves event time past the incident's quiet period.
    const other: AlertEvent = { ...alert('x', { alertname: 'SearchSlow' }, 29), service: 'search', origin: { receiver: 'search', groupKey: '{}:{namespace="search"}' } }
    const inputs = (events: AlertEvent[]): EngineInput[] => events.map((event) => ({ type: 'alert', event }))
    const expected = shape(run(inputs([c, resolved(c, 5), m, resolved(m, 8), other])))
    expect(expected.map((i) => [i.members, i.resolvedAt])).toEqual([['c,m', isoOf(T0 + 8 * MIN)], ['x', null]])
    const spooled = [m, resolved(m, 8)].map((e) => ({ ...e, receivedAt: isoOf(T0 + 30 * MIN) }))
    expect(shape(run(inputs([c, resolved(c, 5), other, ...spooled])))).toEqual(expected)
  })
  it('a late rule-grouped whole episode takes the incident its notification group opened after its start, resolved since, as in order', () => {
    // The mismatch fires 10:00 to 10:01: its incident resolves at 10:06. The crash loop fired from 09:50 to 10:02
    // between two flushes (sent once, resolved, with its start): in order, at 10:02, it takes the mismatch's
    // incident, open, into its group. Spooled through an outage to 10:30, it found that incident resolved and
    // opened one of its own.
    const m = mismatch('m', 'i1', 0)
    const c = { ...resolved(crash('c', 'checkout-a', -10), 2), startsAt: isoOf(T0 - 10 * MIN) }
    const other: AlertEvent = { ...alert('x', { alertname: 'SearchSlow' }, 29), service: 'search', origin: { receiver: 'search', groupKey: '{}:{namespace="search"}' } }
    const inputs = (events: AlertEvent[]): EngineInput[] => events.map((event) => ({ type: 'alert', event }))
    const expected = shape(run(inputs([m, resolved(m, 1), c, other])))
    expect(expected.map((i) => i.members)).toEqual(['c,m', 'x'])
    expect(shape(run(inputs([m, resolved(m, 1), other, { ...c, receivedAt: isoOf(T0 + 30 * MIN) }])))).toEqual(expected)
  })
})

describe('a held rule-grouped alert and the incident its notification group opened after it', () => {
  // Crash loops grouped per pod by a rule; the replica mismatch and a Pingdom check of checkout by the default `by`.
  const byPod = compileGroupingRules({ version: 1, groupBy: { rules: [
    { name: 'crash loops per pod', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*' } } }, by: ['labels.namespace', 'labels.pod'] },
  ] } })
  const at = (min: number) => isoOf(T0 + min * MIN)
  const tick = (min: number): EngineInput => ({ type: 'tick', at: at(min) })
  const check = (min: number): AlertEvent => ({
    id: `pingdom-${min}`, source: 'pingdom', fingerprint: 'checkout-https', status: 'firing', severity: 'critical', service: 'checkout',
    environment: 'production', title: 'checkout down', labels: {}, startsAt: at(min), receivedAt: at(min), links: [], origin: {},
  })

  it('keeps an on-time event of the incident’s old group out of it, as in order', () => {
    // The crash loop of 10:30 comes in a retry at 11:01 (a receiver outage): deep late, held. The mismatch of
    // 11:00 came on time and opened an incident; the Pingdom check of 11:01:30 comes while the crash loop is held.
    const crashLoop = { ...crash('c', 'checkout-a', 30), receivedAt: at(61) }
    const mismatchAt11 = mismatch('m', 'i1', 60)
    const down = check(61.5)
    const engine = () => new CorrelationEngine({ grouping: byPod })
    // In order the mismatch joins the crash loop's incident (rule-grouped, its own group), and the check of
    // checkout, of neither that group nor that notification, opens its own.
    const expected = shape(run([tick(0), { type: 'alert', event: { ...crashLoop, receivedAt: at(30) } }, { type: 'alert', event: mismatchAt11 }, { type: 'alert', event: down }, tick(70)], engine()))
    expect(expected.map((i) => i.members)).toEqual(['c,m', 'checkout-https'])
    const backlog: EngineInput[] = [tick(0), { type: 'alert', event: mismatchAt11 }, tick(60.5), { type: 'alert', event: crashLoop }, { type: 'alert', event: down }]
    const release = [tick(62), tick(63), tick(70)]
    expect(shape(run([...backlog, ...release], engine()))).toEqual(expected)
    // A restart while the check waits with the backlog.
    const restarted = new CorrelationEngine({ grouping: byPod }, JSON.parse(JSON.stringify(run(backlog, engine()).snapshot())) as EngineSnapshot)
    expect(shape(run(release, restarted))).toEqual(expected)
  })
})
