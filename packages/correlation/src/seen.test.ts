import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SeenIds } from './seen.ts'

const hexId = (n: number) => createHash('sha256').update(String(n)).digest('hex').slice(0, 32)

describe('SeenIds', () => {
  it('answers exactly as a map of ids pruned at the horizon, through growth, forgetting and snapshots', () => {
    const op = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 400 }), hex: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), back: fc.integer({ min: 0, max: 300 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const) }) },
    )
    fc.assert(fc.property(fc.array(op, { minLength: 300, maxLength: 3000 }), (ops) => {
      let seen = new SeenIds()
      const model = new Map<string, number>()
      let stamp = 0
      for (const o of ops) {
        if (o.kind === 'add') {
          const id = o.hex ? hexId(o.id) : `id-${o.id}`
          expect(seen.has(id)).toBe(model.has(id))
          if (!model.has(id)) { model.set(id, stamp); seen.add(id, stamp) }
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
})
