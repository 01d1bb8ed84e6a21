import { describe, expect, it } from 'vitest'
import { seededRandom } from '@opsreview/testing/random'
import { defaultCorrelationConfig } from '@opsreview/correlation/config'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'
import { buildCorpus, burstOrder, HOUR, liveOrder, MIN, type Corpus, type Delivery } from './corpus.ts'
import { canonicalEvents } from './canonical.ts'
import { score } from './score.ts'

const START = Date.parse('2026-11-01T00:00:00.000Z')

function run(inputs: EngineInput[]) {
  const engine = new CorrelationEngine()
  for (const i of inputs) engine.apply(i)
  return engine
}
const tick = (t: number): EngineInput => ({ type: 'tick', at: new Date(t).toISOString() })
const alert = (event: AlertEvent): EngineInput => ({ type: 'alert', event })

function live(corpus: Corpus): EngineInput[] {
  const out: EngineInput[] = []
  let clock = corpus.start
  for (const d of liveOrder(corpus.deliveries)) {
    for (; clock + MIN <= d.sentAt; clock += MIN) out.push(tick(clock + MIN))
    out.push(...canonicalEvents([d], () => d.sentAt).map(alert))
  }
  for (; clock < corpus.end + HOUR; clock += MIN) out.push(tick(clock + MIN))
  return out
}
const at = (c: Corpus) => c.end + HOUR
/** Ticks every second after the burst: the one the hold's quiet time after finds it drained. */
const quietSeconds = defaultCorrelationConfig.lateHold.quietMs / 1000
const burstOf = (c: Corpus, events: AlertEvent[]): EngineInput[] => [tick(at(c)), ...events.map(alert), ...Array.from({ length: quietSeconds }, (_, n) => tick(at(c) + (n + 1) * 1000))]

/** Kafka's reordering: events of one alert keep their order, different alerts interleave at random. */
function kafkaShuffle(events: AlertEvent[], seed: number): AlertEvent[] {
  const rnd = seededRandom(seed)
  const byKey = new Map<string, AlertEvent[]>()
  for (const e of events) byKey.set(`${e.source}:${e.fingerprint}`, [...(byKey.get(`${e.source}:${e.fingerprint}`) ?? []), e])
  const queues = [...byKey.values()]
  const out: AlertEvent[] = []
  while (queues.some((q) => q.length > 0)) {
    const left = queues.filter((q) => q.length > 0)
    out.push(left[Math.floor(rnd() * left.length)]!.shift()!)
  }
  return out
}
const eventTime = (e: AlertEvent) => Date.parse(e.status === 'resolved' && e.source !== 'report' ? e.endsAt ?? e.receivedAt : e.startsAt)
const rank = (e: AlertEvent) => (e.source === 'report' ? 1 : e.status === 'firing' ? 0 : 2)
const sortedByTime = (events: AlertEvent[]) => [...events].sort((a, b) => eventTime(a) - eventTime(b) || rank(a) - rank(b) || a.id.localeCompare(b.id))

/** What must not depend on delivery: each incident's members, span and status, and each problem's incidents by their members. */
function outcome(engine: CorrelationEngine) {
  const members = new Map(engine.incidents().map((i) => [i.id, i.alerts.map((a) => a.key).sort().join(',') + (i.reports.length ? `+${i.reports.map((r) => r.title).sort().join(',')}` : '')]))
  return {
    incidents: engine.incidents().map((i) => `${members.get(i.id)} ${i.openedAt}–${i.resolvedAt ?? ''} ${i.status}`).sort(),
    problems: engine.problems().map((p) => `${p.signature} ${p.incidentIds.map((id) => members.get(id)).sort().join(' | ')}`).sort(),
  }
}

describe('the corpus on the pure engine: live against one burst', () => {
  const corpus = buildCorpus({ start: START })
  const order: Delivery[] = burstOrder(corpus.deliveries)
  const burstEvents = canonicalEvents(order, () => at(corpus))
  const liveRun = run(live(corpus))
  const report = (name: string, engine: CorrelationEngine) => {
    const s = score(corpus, engine.incidents(), engine.problems())
    console.log(`${name}: late ${engine.stats.late}\n${s.report}`)
    return s
  }

  it('is taken whole by the receiver, and the same seed gives the same corpus', () => {
    expect(burstEvents.length).toBeGreaterThan(150)
    expect(JSON.stringify(buildCorpus({ start: START }))).toBe(JSON.stringify(corpus))
    expect(JSON.stringify(buildCorpus({ start: START, seed: 12 }).deliveries)).not.toBe(JSON.stringify(corpus.deliveries))
  })

  it('in one burst an hour after its end, in event-time order, gives the incidents and problems of live delivery', () => {
    const sorted = run(burstOf(corpus, sortedByTime(burstEvents)))
    // Every distinct event is late: repeat notifications (the same id) are dropped before.
    expect(sorted.stats.late).toBe(new Set(burstEvents.map((e) => e.id)).size)
    expect(outcome(sorted)).toEqual(outcome(liveRun))
  })

  // Needs the two fixes live delivery needed too (packages/correlation/src/corpus-findings.test.ts): the
  // notification-group join per environment, and the alert Alertmanager only reported as resolved.
  it('delivered live, meets the acceptance: F1 ≥ 0.95, every problem, no false one, finished incidents resolved', () => {
    expect(report('live', liveRun).pass).toBe(true)
  })

  // Every event is behind the watermark (the ticks passed them an hour ago) and Kafka keeps each alert's
  // order only: the late-event rule holds the backlog until a tick finds it drained and applies it in
  // event-time order (docs/correlation-event-time.md).
  it('in one burst, senders interleaved and alerts reordered as Kafka may, gives the incidents of live delivery', () => {
    for (const seed of [1, 2]) {
      const shuffled = run(burstOf(corpus, kafkaShuffle(burstEvents, seed)))
      report(`burst, reordered (seed ${seed})`, shuffled)
      expect(outcome(shuffled)).toEqual(outcome(liveRun))
    }
  })
})
