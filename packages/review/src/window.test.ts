import { describe, expect, it } from 'vitest'
import { parseReviewWindow } from './window.ts'

const NOW = Date.parse('2026-12-01T08:00:00.000Z')

describe('parseReviewWindow', () => {
  it('is the last 24 h by default, since a duration, or from/to with either left out', () => {
    expect(parseReviewWindow({}, NOW)).toEqual({ ok: true, value: { from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ since: '90m' }, NOW)).toMatchObject({ value: { from: '2026-12-01T06:30:00.000Z' } })
    expect(parseReviewWindow({ to: '2026-11-01' }, NOW)).toMatchObject({ value: { from: '2026-10-31T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' } })
    expect(parseReviewWindow({ from: '2026-11-01T00:00:00Z' }, NOW)).toMatchObject({ value: { from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ to: '1970-01-01T00:00:00Z' }, NOW)).toMatchObject({ value: { from: '1969-12-31T00:00:00.000Z' } })
  })

  it('names every fault', () => {
    expect(parseReviewWindow({ since: ['24h', '7d'] }, NOW)).toEqual({ ok: false, errors: [{ path: '/since', message: 'must be given once' }] })
    expect(parseReviewWindow({ since: '367d' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ since: '0h' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ since: '99999999999999999999d' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ from: '2026-12-02', to: '2026-12-01' }, NOW)).toEqual({ ok: false, errors: [{ path: '/from', message: 'must be before to' }] })
    expect(parseReviewWindow({ from: 'x', to: '-271821-04-20T00:00:00.000Z' }, NOW)).toMatchObject({ errors: [{ path: '/from' }, { path: '/to' }] })
  })
})
