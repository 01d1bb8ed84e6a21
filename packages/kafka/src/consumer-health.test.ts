import { describe, expect, it, onTestFinished, vi } from 'vitest'
import fc from 'fast-check'
import pino from 'pino'
import { ConsumerHealth, ConsumerHealthMonitor, registerConsumerHealthMetrics, stallReason, type GaugeLike, type HealthAdmin } from './consumer-health.ts'

/** Both clocks move together with `advance`; `step` moves the wall clock alone, as NTP does. */
function tracker(opts: { stallAfterMs?: number; fromBeginning?: boolean } = {}) {
  let now = 1_000_000
  let elapsed = 5_000
  const health = new ConsumerHealth({ group: 'g', stallAfterMs: opts.stallAfterMs ?? 60_000, fromBeginning: opts.fromBeginning, now: () => now, elapsed: () => elapsed })
  return { health, advance: (ms: number) => { now += ms; elapsed += ms }, step: (ms: number) => { now += ms }, now: () => now }
}

const only = (h: ConsumerHealth) => h.snapshot().partitions[0]!

describe('ConsumerHealth', () => {
  it('measures lag against the broker end offset, not the last batch', () => {
    const { health } = tracker()
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '10' }])
    health.endOffsets('t', [{ partition: 0, high: '25', low: '0' }])
    expect(only(health)).toMatchObject({ position: '10', end: '25', lag: 15 })
    health.processed('t', 0, '20')
    expect(only(health).lag).toBe(5)
    // The broker's end moved while the consumer fetched nothing: the lag says so.
    health.endOffsets('t', [{ partition: 0, high: '40', low: '0' }])
    expect(only(health).lag).toBe(20)
  })

  it('counts from the log start when retention removed what is before the position, and from 0 with no commit', () => {
    const { health } = tracker()
    health.assigned({ t: [0, 1] })
    health.committed('t', [{ partition: 0, offset: '5' }, { partition: 1, offset: '-1' }])
    health.endOffsets('t', [{ partition: 0, high: '100', low: '90' }, { partition: 1, high: '7', low: '0' }])
    const [p0, p1] = health.snapshot().partitions
    expect(p0!.lag).toBe(10)
    expect(p1).toMatchObject({ position: null, lag: 7 })
  })

  it('starts a fromBeginning=false partition without a commit at the end it first sees', () => {
    const { health } = tracker({ fromBeginning: false })
    health.assigned({ t: [0] })
    health.endOffsets('t', [{ partition: 0, high: '50', low: '0' }])
    expect(only(health).lag).toBe(0)
    health.endOffsets('t', [{ partition: 0, high: '52', low: '0' }])
    expect(only(health).lag).toBe(2)
  })

  it('never moves the position back, whatever order commits and reports arrive in', () => {
    const { health } = tracker()
    health.assigned({ t: [0] })
    health.processed('t', 0, '30')
    health.committed('t', [{ partition: 0, offset: '12' }])
    expect(only(health).position).toBe('30')
  })

  it('stalls when a partition has lag and its position has not moved for the stall time, and recovers on progress', () => {
    const { health, advance } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '0' }])
    health.endOffsets('t', [{ partition: 0, high: '10', low: '0' }])
    advance(59_000)
    expect(health.snapshot().stalled).toBe(false)
    advance(1_000)
    expect(health.snapshot()).toMatchObject({ stalled: true, partitions: [{ stalled: true, noProgressForSeconds: 60, lag: 10 }] })
    expect(stallReason(health.snapshot())).toEqual({ group: 'g', stallAfterSeconds: 60, partitions: [{ topic: 't', partition: 0, lag: 10, position: '0', noProgressForSeconds: 60, oldestUnprocessedAgeSeconds: 60 }] })
    health.processed('t', 0, '5')
    expect(health.snapshot().stalled).toBe(false)
    expect(stallReason(health.snapshot())).toBeUndefined()
  })

  it('is not stalled when idle, and starts the stall clock when work appears, not at the last progress', () => {
    const { health, advance } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.processed('t', 0, '10')
    health.endOffsets('t', [{ partition: 0, high: '10', low: '0' }])
    advance(3_600_000)
    expect(health.snapshot().stalled).toBe(false)
    health.endOffsets('t', [{ partition: 0, high: '11', low: '0' }])
    advance(30_000)
    expect(only(health)).toMatchObject({ stalled: false, lag: 1, noProgressForSeconds: 30 })
    advance(30_000)
    expect(only(health).stalled).toBe(true)
  })

  it('dates the oldest unprocessed record by the fetched record, else by when the broker first showed it', () => {
    const { health, advance, now } = tracker()
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '0' }])
    const firstSeen = now()
    health.endOffsets('t', [{ partition: 0, high: '4', low: '0' }])
    advance(10_000)
    // Not fetched yet: the record existed when the end offset first passed the position.
    expect(only(health).oldestUnprocessedAgeSeconds).toBe(10)
    // Fetched: its own timestamp, older than our first look.
    health.fetched('t', 0, { firstOffset: '0', lastOffset: '1', timestamp: String(firstSeen - 5_000) })
    health.fetched('t', 0, { firstOffset: '2', lastOffset: '3', timestamp: String(firstSeen + 2_000) })
    expect(only(health).oldestUnprocessedAgeSeconds).toBe(15)
    health.processed('t', 0, '2')
    expect(only(health).oldestUnprocessedAgeSeconds).toBe(8)
    health.processed('t', 0, '4')
    expect(only(health)).toMatchObject({ lag: 0, oldestUnprocessedAgeSeconds: 0 })
  })

  it('forgets partitions no longer assigned and ignores reports about them', () => {
    const { health } = tracker()
    health.assigned({ t: [0, 1], u: [0] })
    health.assigned({ t: [1] })
    health.processed('t', 0, '5')
    health.endOffsets('u', [{ partition: 0, high: '9' }])
    expect(health.assignment).toEqual({ t: [1] })
    expect(health.snapshot().partitions.map((p) => p.partition)).toEqual([1])
  })

  it('starts over when the listed end goes below the last one (the topic deleted and created again), leaving the old log\'s commits out', () => {
    const { health, advance } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.endOffsets('t', [{ partition: 0, high: '5000', low: '0' }])
    health.committed('t', [{ partition: 0, offset: '5000' }])
    expect(only(health).lag).toBe(0)
    // The new log fills while the consumer is stuck: the group still holds the old log's commit.
    health.endOffsets('t', [{ partition: 0, high: '40', low: '0' }])
    health.committed('t', [{ partition: 0, offset: '5000' }])
    expect(only(health)).toMatchObject({ position: null, end: '40', lag: 40 })
    advance(61_000)
    health.endOffsets('t', [{ partition: 0, high: '40', low: '0' }])
    expect(only(health).stalled).toBe(true)
    health.committed('t', [{ partition: 0, offset: '40' }])
    expect(only(health)).toMatchObject({ position: '40', lag: 0, stalled: false })
    // A batch's high watermark lower than the last (a new leader's, briefly behind) is no new log.
    health.endOffsets('t', [{ partition: 0, high: '30' }])
    expect(only(health).position).toBe('40')
  })

  it('keeps lag equal to end minus the furthest position for any sequence of reports (property)', () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('end' as const), value: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ kind: fc.constant('processed' as const), value: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ kind: fc.constant('committed' as const), value: fc.integer({ min: -1, max: 1000 }) }),
      fc.record({ kind: fc.constant('tick' as const), value: fc.integer({ min: 0, max: 120_000 }) }),
    )
    fc.assert(fc.property(fc.array(event, { maxLength: 200 }), (events) => {
      const { health, advance, now } = tracker()
      health.assigned({ t: [0] })
      let end = 0
      let position = 0
      // The end last listed: one lower is a new log (the topic created again), where everything starts over,
      // and a commit past it is the old log's.
      let listed: number | undefined
      // Each end that moved past the ones before it, with when: nothing is fetched here, so the oldest
      // unprocessed record (at `position`) dates from the first end seen past it.
      let ends: { end: number; at: number }[] = []
      for (const e of events) {
        if (e.kind === 'end') {
          if (listed !== undefined && e.value < listed) { end = 0; position = 0; ends = [] }
          listed = e.value
          if (ends.length === 0 || e.value > ends.at(-1)!.end) ends.push({ end: e.value, at: now() })
          end = Math.max(end, e.value); health.endOffsets('t', [{ partition: 0, high: String(e.value), low: '0' }])
        } else if (e.kind === 'processed') { position = Math.max(position, e.value); health.processed('t', 0, String(e.value)) }
        else if (e.kind === 'committed') {
          if (e.value >= 0 && (listed === undefined || e.value <= listed)) position = Math.max(position, e.value)
          health.committed('t', [{ partition: 0, offset: String(e.value) }])
        }
        else advance(e.value)
        const p = only(health)
        expect(p.lag).toBe(Math.max(0, end - position))
        const firstSeenPast = ends.find((o) => o.end > position)?.at
        expect(p.oldestUnprocessedAgeSeconds).toBe(p.lag === 0 ? 0 : (now() - firstSeenPast!) / 1000)
        if (p.lag === 0) expect(p.stalled).toBe(false)
      }
    }))
  })
})

describe('ConsumerHealth on a wall clock that steps (NTP)', () => {
  it('reports no stall when the wall clock steps an hour forward and the monotonic clock moved a second', () => {
    const { health, advance, step } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '0' }])
    health.endOffsets('t', [{ partition: 0, high: '10', low: '0' }])
    step(3_600_000)
    advance(1_000)
    // Before the fix the hour counted as an hour without progress: a stall (readiness 503, the alert) at once.
    expect(only(health)).toMatchObject({ lag: 10, stalled: false, noProgressForSeconds: 1 })
    expect(health.snapshot().stalled).toBe(false)
  })

  it('still reports a stall when the wall clock steps an hour back and the monotonic clock passes the stall time', () => {
    const { health, advance, step } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '0' }])
    health.endOffsets('t', [{ partition: 0, high: '10', low: '0' }])
    step(-3_600_000)
    advance(59_000)
    expect(only(health).stalled).toBe(false)
    advance(1_000)
    // Before the fix the stall was hidden for the hour the clock went back.
    expect(only(health)).toMatchObject({ lag: 10, stalled: true, noProgressForSeconds: 60 })
    expect(health.snapshot().stalled).toBe(true)
  })

  it('times the stall from when work appeared after an idle spell on the monotonic clock too', () => {
    const { health, advance, step } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.processed('t', 0, '10')
    health.endOffsets('t', [{ partition: 0, high: '10', low: '0' }])
    advance(600_000)
    step(-3_600_000)
    health.endOffsets('t', [{ partition: 0, high: '11', low: '0' }])
    advance(30_000)
    expect(only(health)).toMatchObject({ stalled: false, noProgressForSeconds: 30 })
    step(3_600_000)
    advance(30_000)
    expect(only(health)).toMatchObject({ stalled: true, noProgressForSeconds: 60 })
  })

  it('keeps the oldest record\'s age on the wall clock, against the record timestamps', () => {
    const { health, advance, step, now } = tracker({ stallAfterMs: 60_000 })
    health.assigned({ t: [0] })
    health.committed('t', [{ partition: 0, offset: '0' }])
    health.endOffsets('t', [{ partition: 0, high: '2', low: '0' }])
    health.fetched('t', 0, { firstOffset: '0', lastOffset: '1', timestamp: String(now() - 5_000) })
    step(-2_000)
    advance(1_000)
    expect(only(health)).toMatchObject({ oldestUnprocessedAgeSeconds: 4, noProgressForSeconds: 1 })
  })

  it('the monitor times stalls on performance.now by default, not on Date.now', async () => {
    let stepped = false
    const realNow = Date.now.bind(Date)
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (stepped ? 3_600_000 : 0))
    onTestFinished(() => { spy.mockRestore() })
    const admin: HealthAdmin = {
      fetchTopicOffsets: async () => [{ partition: 0, offset: '10', high: '10', low: '0' }],
      fetchOffsets: async () => [{ topic: 't', partitions: [{ partition: 0, offset: '0', metadata: null }] }],
    }
    const consumer = { on: () => () => undefined, events: { GROUP_JOIN: 'consumer.group_join' } } as unknown as ConstructorParameters<typeof ConsumerHealthMonitor>[0]['consumer']
    const monitor = new ConsumerHealthMonitor({ group: 'g', topics: ['t'], admin, consumer, logger: pino({ level: 'silent' }), stallAfterMs: 60_000 })
    onTestFinished(() => { monitor.stop() })
    monitor.health.assigned({ t: [0] })
    await monitor.poll()
    expect(monitor.snapshot().partitions[0]).toMatchObject({ lag: 10, stalled: false })
    stepped = true
    await monitor.poll()
    expect(monitor.snapshot()).toMatchObject({ stalled: false, partitions: [{ lag: 10, stalled: false }] })
    expect(monitor.snapshot().partitions[0]!.noProgressForSeconds).toBeLessThan(60)
  })
})

describe('registerConsumerHealthMetrics', () => {
  it('exports lag and age per group, topic and partition, and stalled per group, at each collect', () => {
    const gauges = new Map<string, { labels: Record<string, string>; value: number }[] & { collect?: () => void }>()
    class FakeGauge {
      constructor(config: { name: string; collect: (this: GaugeLike) => void }) {
        const values: { labels: Record<string, string>; value: number }[] = []
        const self: GaugeLike = { set: (labels, value) => { values.push({ labels, value }) }, reset: () => { values.length = 0 } }
        gauges.set(config.name, Object.assign(values, { collect: () => config.collect.call(self) }))
      }
    }
    const { health, advance } = tracker({ stallAfterMs: 1000 })
    health.assigned({ t: [2] })
    health.committed('t', [{ partition: 2, offset: '3' }])
    health.endOffsets('t', [{ partition: 2, high: '7', low: '0' }])
    advance(2000)
    registerConsumerHealthMetrics(FakeGauge, 'registry', () => [health])
    for (const g of gauges.values()) g.collect!()
    expect([...gauges.keys()].sort()).toEqual(['opsreview_consumer_lag', 'opsreview_consumer_oldest_unprocessed_age_seconds', 'opsreview_consumer_stalled'])
    expect([...gauges.get('opsreview_consumer_lag')!]).toEqual([{ labels: { group: 'g', topic: 't', partition: '2' }, value: 4 }])
    expect([...gauges.get('opsreview_consumer_oldest_unprocessed_age_seconds')!]).toEqual([{ labels: { group: 'g', topic: 't', partition: '2' }, value: 2 }])
    expect([...gauges.get('opsreview_consumer_stalled')!]).toEqual([{ labels: { group: 'g' }, value: 1 }])
  })
})
