import { describe, expect, it } from 'vitest'
import { decodeCursor, encodeCursor, incidentSearchRequest, MISSING_DATE_SORT_MS, parseIncidentQuery, parseProblemQuery } from './search.ts'

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('cursors', () => {
  it('round-trip what the API hands out, the missing-value marker included', () => {
    for (const sort of [[1764576000000, 'inc-1'], [MISSING_DATE_SORT_MS, 'inc-2']]) expect(decodeCursor(encodeCursor(sort), 'openedAt')).toEqual(sort)
    expect(decodeCursor(encodeCursor([3, 'inc-1']), 'severity')).toEqual([3, 'inc-1'])
    expect(decodeCursor(encodeCursor([1, 'inc-1']), 'severity')).toEqual([1, 'inc-1'])
    expect(decodeCursor(encodeCursor([0, 'inc-1']), 'severity')).toBeUndefined()
    expect(decodeCursor(encodeCursor(['critical', 'inc-1']), 'severity')).toBeUndefined()
    expect(decodeCursor(encodeCursor([5, 'inc-1']), 'severity')).toBeUndefined()
  })

  it('refuse every other shape', () => {
    for (const raw of [b64([]), b64([1]), b64([1, 'a', 2]), b64([1.5, 'a']), b64(['1', 'a']), b64([null, 'a']), b64([2 ** 63, 'a']), b64([1, 1]), b64([1, '']), b64({}), b64('x'), 'not base64!', '']) {
      expect(decodeCursor(raw, 'openedAt'), raw).toBeUndefined()
    }
    expect(decodeCursor(b64([1.5, 'a']), 'severity')).toBeUndefined()
  })
})

describe('parseIncidentQuery', () => {
  it('names every bad parameter, repeated ones included', () => {
    const r = parseIncidentQuery({ service: ['a', 'b'], size: '1e2', sort: 'openedAt:asc:x', from: '2016-12-31T23:59:60Z', cursor: b64([{}, {}]) })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/cursor', '/from', '/service', '/size', '/sort'])
  })

  it('sorts documents without a date where null would go, with a value a cursor can carry', () => {
    const r = parseIncidentQuery({ sort: 'resolvedAt:desc' })
    if (!r.ok) throw new Error('valid')
    expect(incidentSearchRequest('i', r.value).sort).toEqual([{ resolvedAt: { order: 'desc', missing: MISSING_DATE_SORT_MS } }, { id: { order: 'asc' } }])
  })
})

describe('parseProblemQuery', () => {
  it('takes each filter once', () => {
    expect(parseProblemQuery({ status: 'candidate', service: 'checkout' })).toEqual({ ok: true, value: { status: 'candidate', service: 'checkout' } })
    expect(parseProblemQuery({ environment: 'staging' })).toEqual({ ok: true, value: { environment: 'staging' } })
    expect(parseProblemQuery({ service: ['a', 'b'], kind: 'x' })).toMatchObject({ ok: false, errors: [{ path: '/kind' }, { path: '/service', message: 'must be given once' }] })
  })
})
