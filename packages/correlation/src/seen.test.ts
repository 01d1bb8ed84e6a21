import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SeenIds } from './seen.ts'

const hexId = (n: number) => createHash('sha256').update(String(n)).digest('hex').slice(0, 32)

describe('SeenIds', () => {
  it('answers exactly as a map of ids pruned at the horizon, through growth, forgetting and snapshots', () => {
    // Mostly new ids (so that the table grows past 768 live ids and moves them while the other operations
    // fall), some seen again, now and then a forget (mostly far back) or a snapshot and restore.
    const op = fc.oneof(
      { weight: 160, arbitrary: fc.record({ kind: fc.constant('new' as const), hex: fc.boolean() }) },
      { weight: 40, arbitrary: fc.record({ kind: fc.constant('again' as const), back: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), back: fc.noBias(fc.integer({ min: 0, max: 3000 })) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('snapshot' as const) }) },
    )
    // Each run starts 8 ids short of the first growth (768 of 1,024 slots), so that the random part begins
    // with a growth, its moves interleaved with lookups of ids not moved yet, forgets and snapshots.
    const start = Array.from({ length: 760 }, () => ({ kind: 'new' as const, hex: true }))
    let grew = 0
    fc.assert(fc.property(fc.array(op, { minLength: 1200, maxLength: 3000, size: 'max' }).map((ops) => [...start, ...ops]), (ops) => {
      let seen = new SeenIds()
      const model = new Map<string, number>()
      const ids: string[] = []
      let stamp = 0
      for (const o of ops) {
        if (o.kind === 'new' || o.kind === 'again') {
          const id = o.kind === 'new' || ids.length === 0 ? (o.kind === 'new' && o.hex ? hexId(ids.length) : `id-${ids.length}`) : ids[ids.length - 1 - (o.back % ids.length)]!
          if (o.kind === 'new' || ids.length === 0) ids.push(id)
          expect(seen.has(id)).toBe(model.has(id))
          if (!model.has(id)) { model.set(id, stamp); seen.add(id, stamp) }
          if (seen.growing) grew++
          stamp += 1
        } else if (o.kind === 'forget') {
          const horizon = stamp - o.back
          for (const [id, t] of model) if (t < horizon) model.delete(id)
          seen.forget(horizon)
        } else {
          seen = SeenIds.fromSnapshot(JSON.parse(JSON.stringify(seen.toSnapshot())))
        }
      }
      expect(seen.size).toBe(model.size)
      for (const id of model.keys()) expect(seen.has(id)).toBe(true)
    }), { numRuns: 40 })
    // The runs went through growths: the answers above held while ids were being moved.
    expect(grew).toBeGreaterThan(0)
  }, 60_000)

  it('restores in steps, one per block of ids, to the same ids', () => {
    const seen = new SeenIds()
    const ids = Array.from({ length: 40_000 }, (_, i) => hexId(i))
    ids.forEach((id, i) => seen.add(id, i))
    const snapshot = seen.toSnapshot()
    const restoring = SeenIds.restoring(snapshot)
    let steps = 0
    let r = restoring.next()
    for (; !r.done; r = restoring.next()) steps++
    expect(steps).toBe(snapshot.keys.length)
    expect(steps).toBeGreaterThan(1)
    expect(r.value.size).toBe(ids.length)
    expect(ids.every((id) => r.value.has(id))).toBe(true)
    expect(r.value.has(hexId(40_000))).toBe(false)
  })

  it('grows a few slots per insertion, answering for every id while it moves them', () => {
    const seen = new SeenIds()
    const ids = Array.from({ length: 20_000 }, (_, i) => hexId(i))
    let growths = 0
    let checkedWhileGrowing = 0
    ids.forEach((id, i) => {
      const wasGrowing = seen.growing
      seen.add(id, i)
      if (!wasGrowing && seen.growing) growths++
      if (seen.growing) {
        // Every id so far, whether moved or not, and none beyond.
        for (let k = 0; k <= i; k += 97) expect(seen.has(ids[k]!)).toBe(true)
        expect(seen.has(hexId(-1 - i))).toBe(false)
        checkedWhileGrowing++
      }
    })
    expect(growths).toBeGreaterThanOrEqual(4)
    expect(checkedWhileGrowing).toBeGreaterThan(0)
    expect(seen.size).toBe(ids.length)
  })

  it('keeps ids it has not moved yet in a snapshot taken while it grows, once each, and forgets the expired ones', () => {
    const seen = new SeenIds()
    let n = 0
    while (!seen.growing) seen.add(hexId(n), n++)
    seen.forget(10)
    const snapshot = seen.toSnapshot()
    expect(seen.growing).toBe(true)
    const restored = SeenIds.fromSnapshot(snapshot)
    const stamps = snapshot.stamps.reduce((sum, b) => sum + Buffer.byteLength(b, 'base64') / 8, 0)
    expect(stamps).toBe(n - 10)
    expect(restored.size).toBe(n - 10)
    for (let i = 0; i < n; i++) expect(restored.has(hexId(i))).toBe(i >= 10)
  })

  it('grows out of a large table of mostly expired ids without filling the small new one', () => {
    // A table grown in a storm, then a quiet spell: nearly every slot holds an expired id when it passes
    // 75 % full, and the new table is sized for the few live ones. Moved 32 slots per insertion, the old
    // table would take 4,096 insertions, and the new one (1,024 slots) would fill long before.
    const seen = new SeenIds(1 << 17)
    let n = 0
    // One id short of 75 % full, then all of them expired: the growth comes after a handful of new ids.
    const expired = Math.floor((1 << 17) * 0.75) - 1
    while (n < expired) seen.add(hexId(n), n++)
    seen.forget(n)
    while (!seen.growing) seen.add(hexId(n), n++)
    expect(n - expired).toBeLessThan(100)
    for (let i = 0; i < 3000; i++) seen.add(hexId(n), n++)
    expect(seen.size).toBe(n - expired)
    for (let i = expired; i < n; i++) expect(seen.has(hexId(i))).toBe(true)
    expect(seen.has(hexId(0))).toBe(false)
  })
})

