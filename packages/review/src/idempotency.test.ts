import { describe, expect, it } from 'vitest'
import { canonicalJson, commandIdFor, IdempotencyStore, requestFingerprint, type StoredAnswer } from './idempotency.ts'

const limits = { ttlMs: 1000, maxKeys: 3, maxBytes: 10_000 }
const answer = { status: 202, body: { commandIds: ['c1'] } }

/** The answer kept for the key when it was given for this request, as a keyed retry reads it. */
function answeredBy<A extends StoredAnswer>(s: IdempotencyStore<A>, key: string, fingerprint: string, nowMs: number): A | undefined {
  const kept = s.lookup(key, fingerprint, nowMs)
  return kept.kind === 'replay' ? kept.answer : undefined
}

describe('request fingerprints and command ids', () => {
  it('ignore key order and spacing, and differ with method, target or body', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}')
    const fp = requestFingerprint('PATCH', 'inc-1', { actor: 'a', owner: 'b' })
    expect(requestFingerprint('PATCH', 'inc-1', { owner: 'b', actor: 'a' })).toBe(fp)
    expect(requestFingerprint('PATCH', 'inc-2', { actor: 'a', owner: 'b' })).not.toBe(fp)
    expect(requestFingerprint('PATCH', 'inc-1', { actor: 'a', owner: 'c' })).not.toBe(fp)
  })

  it('give one id per key, request and command type, within the command schema length', () => {
    const id = commandIdFor('k', 'fp', 'incident.assign')
    expect(id).toBe(commandIdFor('k', 'fp', 'incident.assign'))
    expect(id).not.toBe(commandIdFor('k', 'fp', 'incident.note'))
    expect(id).not.toBe(commandIdFor('k2', 'fp', 'incident.assign'))
    expect(id.length).toBeLessThanOrEqual(64)
  })
})

describe('IdempotencyStore', () => {
  it('replays a finished answer, refuses another request, and says when the first is still running', () => {
    const s = new IdempotencyStore(limits)
    const first = s.begin('k', 'fp', 0)
    if (first.kind !== 'new') throw new Error('new')
    expect(s.begin('k', 'fp', 1)).toEqual({ kind: 'in-flight' })
    first.finish(answer)
    expect(s.begin('k', 'fp', 2)).toEqual({ kind: 'replay', answer })
    expect(s.begin('k', 'other', 3)).toEqual({ kind: 'mismatch' })
  })

  it('looks a key up as begin would see it, without taking one it does not know', () => {
    const s = new IdempotencyStore(limits)
    expect(s.lookup('k', 'fp', 0)).toEqual({ kind: 'unknown' })
    expect(s.size).toBe(0)
    const first = s.begin('k', 'fp', 0)
    if (first.kind !== 'new') throw new Error('new')
    expect(s.lookup('k', 'fp', 1)).toEqual({ kind: 'in-flight' })
    first.finish(answer)
    expect(s.lookup('k', 'fp', 1)).toEqual({ kind: 'replay', answer })
    expect(s.lookup('k', 'other', 1)).toEqual({ kind: 'mismatch' })
    // Past its age the key is unknown again.
    expect(s.lookup('k', 'fp', limits.ttlMs)).toEqual({ kind: 'unknown' })
  })

  it('forgets a failed request, so its retry runs', () => {
    const s = new IdempotencyStore(limits)
    const first = s.begin('k', 'fp', 0)
    if (first.kind !== 'new') throw new Error('new')
    first.abandon()
    expect(s.begin('k', 'fp', 1).kind).toBe('new')
  })

  it('keeps a newer answer of the same request in place of the one kept, never one of another request or of one still running', () => {
    const s = new IdempotencyStore(limits)
    const first = s.begin('k', 'fp', 0)
    if (first.kind !== 'new') throw new Error('new')
    const awaiting = { status: 202, body: { commandIds: ['c1'], visible: false } }
    first.finish(awaiting)
    const final = { status: 409, body: { commandIds: ['c1'], code: 'DECISION_REFUSED' } }
    expect(s.update('k', 'other', awaiting, final, 1)).toBeUndefined()
    expect(s.begin('k', 'fp', 2)).toEqual({ kind: 'replay', answer: { status: 202, body: { commandIds: ['c1'], visible: false } } })
    expect(s.update('k', 'fp', awaiting, final, 3)).toBe(final)
    expect(s.begin('k', 'fp', 4)).toEqual({ kind: 'replay', answer: final })
    expect(answeredBy(s, 'k', 'fp', 5)).toEqual(final)
    const running = s.begin('j', 'fp', 6)
    expect(s.update('j', 'fp', awaiting, final, 7)).toBeUndefined()
    expect(s.begin('j', 'fp', 8)).toEqual({ kind: 'in-flight' })
    if (running.kind === 'new') running.abandon()
    expect(s.update('gone', 'fp', awaiting, final, 9)).toBeUndefined()
    expect(s.size).toBe(1)
    // The key keeps its age: updated at 999, it is forgotten at 1000 as if it had not been.
    s.update('k', 'fp', final, answer, 999)
    expect(s.begin('k', 'fp', 1000).kind).toBe('new')
  })

  it('replaces only the answer the caller read: a retry slower than another keeps nothing over what that one kept', () => {
    const s = new IdempotencyStore(limits)
    const first = s.begin('k', 'fp', 0)
    if (first.kind !== 'new') throw new Error('new')
    const awaiting = { status: 202, body: { commandIds: ['c1'], visible: false } }
    first.finish(awaiting)
    // Two retries read the kept 202; the first to end keeps a 200, the slower ends with a 202 again.
    const read = [answeredBy(s, 'k', 'fp', 1)!, answeredBy(s, 'k', 'fp', 1)!]
    const shown = { status: 200, body: { commandIds: ['c1'], visible: true } }
    expect(s.update('k', 'fp', read[0]!, shown, 2)).toBe(shown)
    expect(s.update('k', 'fp', read[1]!, { status: 202, body: { commandIds: ['c1'], visible: false } }, 3)).toBe(shown)
    expect(answeredBy(s, 'k', 'fp', 4)).toBe(shown)
  })

  it('counts what an answer holds besides its body against the bytes', () => {
    const s = new IdempotencyStore({ ...limits, maxKeys: 100, maxBytes: 1000 })
    for (const k of ['a', 'b']) {
      const b = s.begin(k, 'fp', 0)
      if (b.kind === 'new') b.finish({ ...answer, heldBytes: 400 })
    }
    expect(s.size).toBe(2)
    s.update('b', 'fp', answeredBy(s, 'b', 'fp', 1)!, { ...answer, heldBytes: 700 }, 1)
    expect(s.begin('a', 'fp', 2).kind).toBe('new')
    expect(s.begin('b', 'fp', 3).kind).toBe('replay')
  })

  it('is bounded by age, by count and by bytes, the oldest first', () => {
    const s = new IdempotencyStore(limits)
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) {
      const b = s.begin(k, 'fp', i)
      if (b.kind === 'new') b.finish(answer)
    }
    expect(s.size).toBe(3)
    expect(s.begin('a', 'fp', 10).kind).toBe('new')
    expect(s.begin('d', 'fp', 1004).kind).toBe('new')
    const small = new IdempotencyStore({ ...limits, maxKeys: 100, maxBytes: 100 })
    for (const k of ['a', 'b', 'c']) {
      const b = small.begin(k, 'fp', 0)
      if (b.kind === 'new') b.finish({ status: 202, body: { text: 'x'.repeat(40) } })
    }
    expect(small.size).toBeLessThan(3)
    expect(small.begin('c', 'fp', 1).kind).toBe('replay')
  })
})
