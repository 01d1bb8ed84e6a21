import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { DeadLetter } from './record.ts'
import { formatSummary, parseSince, selects, summarize } from './summary.ts'

const NOW = Date.parse('2026-12-01T12:00:00.000Z')

function dl(topic: string, reason: string, at: string, replayable = true, stage = 'receiver'): DeadLetter {
  return {
    topic, partition: 0, offset: '0', key: null, at: Date.parse(at), reason, stage, error: undefined, format: 'envelope',
    replay: replayable ? { kind: 'webhook', path: '/webhooks/pingdom', body: '{}' } : undefined,
    notReplayable: replayable ? undefined : 'no replay in the record',
  }
}

describe('parseSince', () => {
  it.each([
    ['24h', NOW - 24 * 3_600_000],
    ['90m', NOW - 90 * 60_000],
    ['7d', NOW - 7 * 86_400_000],
    ['30s', NOW - 30_000],
    ['2w', NOW - 14 * 86_400_000],
    ['2026-11-30T06:00:00Z', Date.parse('2026-11-30T06:00:00Z')],
    ['2026-11-30T06:00:00.250+01:00', Date.parse('2026-11-30T05:00:00.250Z')],
    ['2026-11-30', Date.parse('2026-11-30T00:00:00Z')],
    ['2028-02-29', Date.parse('2028-02-29T00:00:00Z')],
    ['0000-02-29', Date.parse('0000-02-29T00:00:00Z')],
  ])('%s', (input, ms) => {
    expect(parseSince(input, NOW)).toEqual({ ok: true, ms })
  })

  // The last three until 2026-12-06: exit 70 ("Invalid time value"), and 3 March. The times without an
  // offset until 2026-12-07: the time of whatever zone the operator's machine is in, where `opsreview
  // replay --from` refuses them; a replay since 06:00 in New York took 06:00 for 11:00Z.
  it.each(['yesterday', '24', '5 minutes', '', '-1h', 'June', '2026-13-45T99:00:00Z', '99999999999999999999w', '2026-02-31', '2026-02-29T00:00:00Z', '2026-11-30T06:00:00', '2026-11-30T06:00', '2026-11-30 06:00:00.5'])('refuses %j, saying what it takes', (input) => {
    const r = parseSince(input, NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error).toMatch(/--since must be a duration like 30m, 24h or 7d, or an ISO time/)
  })
})

describe('selects', () => {
  const a = dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T10:00:00Z')
  it('keeps what is at or after since, of the reasons and topics asked for', () => {
    expect(selects({}, a)).toBe(true)
    expect(selects({ sinceMs: a.at }, a)).toBe(true)
    expect(selects({ sinceMs: a.at + 1 }, a)).toBe(false)
    expect(selects({ reasons: ['validation_failed', 'x'] }, a)).toBe(true)
    expect(selects({ reasons: ['validation'] }, a)).toBe(false)
    expect(selects({ reasons: [] }, a)).toBe(true)
    expect(selects({ topics: ['opsreview.rejected.v1'] }, a)).toBe(true)
    expect(selects({ topics: ['opsreview.indexer.dead-letter.v1'] }, a)).toBe(false)
  })
  it('leaves out a dead letter without a readable time when a since is given', () => {
    expect(selects({ sinceMs: 0 }, { ...a, at: NaN })).toBe(false)
  })
})

describe('summarize', () => {
  it('counts per topic and reason with first, last, replayable and stages', () => {
    const groups = summarize([
      dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T10:00:00Z'),
      dl('opsreview.indexer.dead-letter.v1', 'mapper_parsing_exception', '2026-12-01T09:00:00Z', false, 'indexer'),
      dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T08:00:00Z', false),
      dl('opsreview.rejected.v1', 'unsupported_media_type', '2026-12-01T11:00:00Z'),
      dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T09:30:00Z'),
    ])
    expect(groups).toEqual([
      { topic: 'opsreview.indexer.dead-letter.v1', reason: 'mapper_parsing_exception', count: 1, replayable: 0, compactedTarget: 0, first: '2026-12-01T09:00:00.000Z', last: '2026-12-01T09:00:00.000Z', stages: ['indexer'] },
      { topic: 'opsreview.rejected.v1', reason: 'validation_failed', count: 3, replayable: 2, compactedTarget: 0, first: '2026-12-01T08:00:00.000Z', last: '2026-12-01T10:00:00.000Z', stages: ['receiver'] },
      { topic: 'opsreview.rejected.v1', reason: 'unsupported_media_type', count: 1, replayable: 1, compactedTarget: 0, first: '2026-12-01T11:00:00.000Z', last: '2026-12-01T11:00:00.000Z', stages: ['receiver'] },
    ])
  })

  it('counts a record bound for a compacted topic as not replayable, as the replay refuses it', () => {
    const record = (target: string) => ({ ...dl('opsreview.indexer.dead-letter.v1', 'mapping-rejected', '2026-12-01T10:00:00Z', true, 'indexer'), replay: { kind: 'record' as const, topic: target, key: 'inc-1', value: '{}' } })
    const letters = [record('opsreview.incidents.v1'), record('opsreview.incidents.v1'), record('opsreview.alerts.v1')]
    expect(summarize(letters, new Set(['opsreview.incidents.v1']))).toMatchObject([{ count: 3, replayable: 1, compactedTarget: 2 }])
    expect(summarize(letters)).toMatchObject([{ count: 3, replayable: 3, compactedTarget: 0 }])
    const text = formatSummary(summarize(letters, new Set(['opsreview.incidents.v1'])), { topics: [] })
    expect(text).toContain('total 3 (1 replayable)')
    expect(text).toContain('2 of them carry a record for a compacted topic: not replayable')
  })

  it('keeps the same reason on two topics apart', () => {
    const groups = summarize([dl('a', 'unknown', '2026-12-01T10:00:00Z'), dl('b', 'unknown', '2026-12-01T10:00:00Z')])
    expect(groups.map((g) => [g.topic, g.count])).toEqual([['a', 1], ['b', 1]])
  })

  it('loses no dead letter: the counts add up to the input, for any input', () => {
    const arb = fc.array(fc.record({ topic: fc.constantFrom('t1', 't2', 't3'), reason: fc.constantFrom('a', 'b', 'unknown'), at: fc.integer({ min: 0, max: 4_102_444_800_000 }), replayable: fc.boolean() }))
    fc.assert(fc.property(arb, (items) => {
      const groups = summarize(items.map((i) => dl(i.topic, i.reason, new Date(i.at).toISOString(), i.replayable)))
      expect(groups.reduce((s, g) => s + g.count, 0)).toBe(items.length)
      expect(groups.reduce((s, g) => s + g.replayable, 0)).toBe(items.filter((i) => i.replayable).length)
      for (const g of groups) expect(g.first <= g.last).toBe(true)
    }))
  })
})

describe('formatSummary', () => {
  it('prints a table with totals and names the topics that do not exist', () => {
    const text = formatSummary(summarize([dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T10:00:00Z'), dl('opsreview.rejected.v1', 'validation_failed', '2026-12-01T11:00:00Z', false)]), {
      sinceMs: NOW - 86_400_000,
      topics: [{ topic: 'opsreview.rejected.v1', exists: true, read: 2 }, { topic: 'opsreview.correlator.dead-letter.v1', exists: false, read: 0 }],
    })
    expect(text).toContain('dead letters since 2026-11-30T12:00:00.000Z')
    expect(text).toContain('opsreview.correlator.dead-letter.v1: no such topic')
    expect(text).toMatch(/opsreview\.rejected\.v1\s+validation_failed\s+2\s+1\s+2026-12-01T10:00:00\.000Z\s+2026-12-01T11:00:00\.000Z/)
    expect(text).toContain('total 2 (1 replayable)')
  })

  it('says none when there is nothing', () => {
    expect(formatSummary([], { topics: [] })).toBe('dead letters\n  none\n')
  })
})
