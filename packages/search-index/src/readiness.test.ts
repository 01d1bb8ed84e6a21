import { describe, expect, it } from 'vitest'
import { indexerReadiness } from './readiness.ts'

const partition = { topic: 'alerts', partition: 0, lag: 3, position: '7', end: '10', noProgressForSeconds: 75, oldestUnprocessedAgeSeconds: 80, stalled: true }
const health = (stalled: boolean) => ({ group: 'g', stalled, stallAfterSeconds: 60, partitions: [{ ...partition, stalled }] })

describe('indexerReadiness', () => {
  it('is ready in its group with the breaker closed and nothing stalled', () => {
    expect(indexerReadiness({ joined: true, breaker: 'closed', health: health(false), failing: undefined, waiting: [], now: 0 })).toMatchObject({ ready: true, reasons: [], stalled: false, stalledPartitions: [] })
  })

  it('is not ready when stalled, even with the breaker closed, and says which partition and why', () => {
    const r = indexerReadiness({ joined: true, breaker: 'closed', health: health(true), failing: undefined, waiting: [], now: 0 })
    expect(r).toMatchObject({ ready: false, stalled: true, stalledPartitions: [{ topic: 'alerts', partition: 0, lag: 3, position: '7' }] })
    expect(r.reasons).toEqual(['stalled: alerts/0 has 3 record(s) waiting and no progress for 75 s'])
  })

  it('lists every reason, and the whole-request failure being retried', () => {
    const r = indexerReadiness({ joined: false, breaker: 'open', health: health(false), failing: { code: 'es-unavailable', since: 1000, attempts: 12, error: 'connect ECONNREFUSED' }, waiting: [], now: 31_000 })
    expect(r.reasons).toEqual(['not in its consumer group yet', 'elasticsearch breaker open'])
    expect(r.failing).toEqual({ reason: 'es-unavailable', sinceSeconds: 30, attempts: 12, error: 'connect ECONNREFUSED' })
    expect(r).not.toHaveProperty('waiting')
    // The making of one index failing for want of Elasticsearch names that index.
    const unmade = indexerReadiness({ joined: true, breaker: 'closed', health: health(false), failing: { code: 'es-unavailable', since: 1000, attempts: 3, error: 'failed to process cluster event', index: 'alerts-2026.12' }, waiting: [], now: 11_000 })
    expect(unmade.failing).toEqual({ reason: 'es-unavailable', sinceSeconds: 10, attempts: 3, error: 'failed to process cluster event', index: 'alerts-2026.12' })
  })

  it('names the index and cause of documents held back from a stalled partition, and lists them without a stall', () => {
    const error = 'index [opsreview-alerts-2026.11] blocked by: [FORBIDDEN/8/index write (api)];'
    // Four documents of the blocked month, three of them from the stalled partition.
    const blocked = { code: 'es-blocked' as const, index: 'opsreview-alerts-2026.11', documents: 4, partitions: { 'alerts/0': 3, 'alerts/1': 1 }, since: 1000, error }
    // Another partition's short wait (a 429) is no cause of this stall: listed, not named.
    const busy = { code: 'es-overloaded' as const, index: 'opsreview-incidents', documents: 1, partitions: { 'incidents/3': 1 }, since: 74_000, error: 'rejected execution' }
    const stalled = indexerReadiness({ joined: true, breaker: 'closed', health: health(true), failing: undefined, waiting: [blocked, busy], now: 76_000 })
    expect(stalled.ready).toBe(false)
    expect(stalled.reasons).toEqual([
      'stalled: alerts/0 has 3 record(s) waiting and no progress for 75 s',
      `held back: 3 document(s) for opsreview-alerts-2026.11 from alerts/0, es-blocked: ${error}`,
    ])
    expect(stalled.waiting).toEqual([
      { reason: 'es-blocked', index: 'opsreview-alerts-2026.11', documents: 4, partitions: { 'alerts/0': 3, 'alerts/1': 1 }, sinceSeconds: 75, error },
      { reason: 'es-overloaded', index: 'opsreview-incidents', documents: 1, partitions: { 'incidents/3': 1 }, sinceSeconds: 2, error: 'rejected execution' },
    ])
    // A short wait is no stall: listed, and still ready.
    const waiting = indexerReadiness({ joined: true, breaker: 'closed', health: health(false), failing: undefined, waiting: [blocked], now: 3000 })
    expect(waiting).toMatchObject({ ready: true, reasons: [], waiting: [{ reason: 'es-blocked', documents: 4, sinceSeconds: 2 }] })
  })
})
