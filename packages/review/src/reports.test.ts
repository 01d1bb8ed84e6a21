import { describe, expect, it } from 'vitest'
import type { Report } from '@opsreview/schemas'
import { fileReport, reportOf, type ReportTarget } from './reports.ts'

const report = { kind: 'capacity-forecast', service: 'checkout', title: 'db-main disk full in 9 days' }
const target: ReportTarget = { url: 'http://receiver.invalid:8080', token: 'ingest-secret', timeoutMs: 1_000 }

describe('reportOf', () => {
  it('makes a named token the reporter, whether or not the body says so', () => {
    expect(reportOf(report, 'dana')).toMatchObject({ ok: true, value: { ...report, reportedBy: 'dana' } })
    expect(reportOf({ ...report, reportedBy: 'dana' }, 'dana')).toMatchObject({ ok: true, value: { reportedBy: 'dana' } })
  })

  it('refuses a reporter other than the named token, naming /reportedBy', () => {
    expect(reportOf({ ...report, reportedBy: 'erin' }, 'dana')).toEqual({ ok: false, errors: [{ path: '/reportedBy', message: 'must be left out or be dana, the name of your token' }] })
  })

  it('needs reportedBy from a bare token, as the receiver does', () => {
    const r = reportOf(report, undefined)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path)).toContain('/reportedBy')
  })
})

describe('fileReport', () => {
  // The receiver's answers, as a fetch that answers them; the real receiver is in test/e2e/src/dashboard.test.ts.
  const answering = (status: number, body: unknown, seen: Request[] = []): typeof fetch => async (input, init) => {
    seen.push(new Request(input as URL, init))
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
  }
  const valid: Report = { kind: 'capacity-forecast', service: 'checkout', title: 'db-main disk full in 9 days', severity: 'warning', reportedBy: 'dana' }

  it('posts the report with the ingest token and passes the receiver\'s answer on', async () => {
    const seen: Request[] = []
    expect(await fileReport(target, valid, answering(202, { accepted: 1, ids: ['e1'] }, seen))).toEqual({ kind: 'accepted', status: 202, body: { accepted: 1, ids: ['e1'] } })
    expect(seen[0]!.url).toBe('http://receiver.invalid:8080/api/v1/reports')
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer ingest-secret')
    expect(await seen[0]!.json()).toEqual(valid)
  })

  it('keeps the receiver URL\'s base path (a receiver behind a gateway), with or without its last slash', async () => {
    for (const url of ['https://gw.invalid/receiver/', 'https://gw.invalid/receiver']) {
      const seen: Request[] = []
      await fileReport({ ...target, url }, valid, answering(202, { accepted: 1, ids: ['e1'] }, seen))
      expect(seen[0]!.url).toBe('https://gw.invalid/receiver/api/v1/reports')
    }
  })

  it.each([
    [400, { detail: 'bad', errors: [{ path: '/title', message: 'too long' }] }, { kind: 'refused', status: 400, errors: [{ path: '/title', message: 'too long' }], detail: 'bad' }],
    [413, {}, { kind: 'refused', status: 413, errors: [], detail: 'the receiver answered 413' }],
    [401, {}, { kind: 'misconfigured', detail: "the receiver refused the review's token (401)" }],
    [404, {}, { kind: 'misconfigured', detail: 'the receiver answered 404 without naming a field' }],
    [405, { detail: 'Method Not Allowed' }, { kind: 'misconfigured', detail: 'the receiver answered 405 without naming a field: Method Not Allowed' }],
    [503, {}, { kind: 'unavailable', detail: 'the receiver answered 503' }],
    [429, {}, { kind: 'unavailable', detail: 'the receiver answered 429' }],
  ])('tells a %i apart', async (status, body, expected) => {
    expect(await fileReport(target, valid, answering(status, body))).toEqual(expected)
  })

  it('is unavailable when the receiver does not answer, and never quotes the token', async () => {
    const r = await fileReport(target, valid, async () => { throw new TypeError('fetch failed') })
    expect(r).toEqual({ kind: 'unavailable', detail: 'the receiver did not answer: TypeError' })
    expect(JSON.stringify(r)).not.toContain('ingest-secret')
  })
})
