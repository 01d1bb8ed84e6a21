import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DurableOffsets, type Span } from './durable-offsets.ts'

/** A span carried by `parts` requests, as the bulk pipeline attaches it. */
function open(offsets: DurableOffsets, partition: number, lastOffset: number, parts = 1): Span {
  const span = offsets.open('alerts', partition, String(lastOffset))
  span.pending = parts
  return span
}

const commitOf = (offsets: DurableOffsets, partition = 0) => offsets.uncommitted().find((o) => o.partition === partition)?.offset

describe('durable offsets', () => {
  it('commits a partition only up to its longest durable prefix', () => {
    const offsets = new DurableOffsets()
    const a = open(offsets, 0, 9)
    const b = open(offsets, 0, 19)
    const c = open(offsets, 0, 29)
    expect(offsets.done(b)).toBe(false)
    expect(commitOf(offsets)).toBeUndefined()
    expect(offsets.done(a)).toBe(true)
    expect(commitOf(offsets)).toBe('20')
    offsets.done(c)
    expect(commitOf(offsets)).toBe('30')
  })

  it('waits for every request that carries a span', () => {
    const offsets = new DurableOffsets()
    const span = open(offsets, 0, 99, 3)
    offsets.done(span)
    offsets.done(span)
    expect(commitOf(offsets)).toBeUndefined()
    expect(offsets.done(span)).toBe(true)
    expect(commitOf(offsets)).toBe('100')
  })

  it('keeps partitions apart', () => {
    const offsets = new DurableOffsets()
    const p0 = open(offsets, 0, 5)
    open(offsets, 1, 7)
    offsets.done(p0)
    expect(offsets.uncommitted()).toEqual([{ topic: 'alerts', partition: 0, offset: '6' }])
  })

  it('offers an offset until the group has accepted it', () => {
    const offsets = new DurableOffsets()
    offsets.done(open(offsets, 0, 4))
    expect(offsets.uncommitted()).toHaveLength(1)
    offsets.committed([{ topic: 'alerts', partition: 0, offset: '5' }])
    expect(offsets.uncommitted()).toEqual([])
    offsets.done(open(offsets, 0, 8))
    expect(commitOf(offsets)).toBe('9')
  })

  it('forgets everything at a new group generation; requests of the old one change nothing', () => {
    const offsets = new DurableOffsets()
    const old = open(offsets, 0, 9)
    offsets.reset()
    const fresh = open(offsets, 0, 4)
    expect(offsets.done(old)).toBe(false)
    expect(offsets.uncommitted()).toEqual([])
    offsets.done(fresh)
    expect(commitOf(offsets)).toBe('5')
  })

  it('holds a bounded number of spans behind a request that never finishes, and commits past it once it does', () => {
    // A document Elasticsearch keeps refusing with an error that counts no attempt: its request stays open.
    const offsets = new DurableOffsets()
    const stuck = open(offsets, 0, 9)
    for (let batch = 1; batch <= 100_000; batch++) offsets.done(open(offsets, 0, batch * 10 + 9))
    expect(offsets.heldSpans()).toBe(2)
    expect(commitOf(offsets)).toBeUndefined()
    expect(offsets.notDurable()).toEqual([{ topic: 'alerts', partition: 0, to: '1000009' }])
    expect(offsets.done(stuck)).toBe(true)
    expect(commitOf(offsets)).toBe('1000010')
    expect(offsets.heldSpans()).toBe(0)
  })

  it('never commits past a record that is not durable, whatever order requests finish in', () => {
    // A partition's batches, each carried by 1-3 requests; requests finish in a random order.
    const scenario = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 12 }).chain((parts) => {
      const finishes = parts.flatMap((n, batch) => Array.from({ length: n }, () => batch))
      return fc.shuffledSubarray(finishes, { minLength: finishes.length }).map((order) => ({ parts, order }))
    })
    fc.assert(fc.property(scenario, ({ parts, order }) => {
      const offsets = new DurableOffsets()
      const spans = parts.map((n, batch) => open(offsets, 0, batch * 10 + 9, n))
      const left = [...parts]
      for (const batch of order) {
        offsets.done(spans[batch]!)
        left[batch]!--
        const firstNotDurable = left.findIndex((n) => n > 0)
        const limit = firstNotDurable === -1 ? parts.length * 10 : firstNotDurable * 10
        const commit = Number(commitOf(offsets) ?? 0)
        expect(commit).toBeLessThanOrEqual(limit)
        expect(commit).toBe(firstNotDurable === 0 ? 0 : limit)
      }
      expect(commitOf(offsets)).toBe(String(parts.length * 10))
    }))
  })
})
