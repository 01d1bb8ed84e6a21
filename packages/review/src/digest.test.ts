import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { digestBody, digestLimits, digestReviewWindow, digestWindow, nextDigest, parseDigestAt, postWebhook, startDigestScheduler, type DigestLedger, type DigestOutcome, type DigestSchedulerOptions } from './digest.ts'
import { notConfigured, type ResponseTimes } from './response-times.ts'
import { parseReviewWindow } from './window.ts'

const Z = (iso: string) => Date.parse(iso)
const iso = (ms: number) => new Date(ms).toISOString()

describe('the digest time', () => {
  it('reads HH:MM on a 24 h clock and names what is wrong', () => {
    expect(parseDigestAt('08:30')).toEqual({ ok: true, value: { hour: 8, minute: 30 } })
    expect(parseDigestAt(' 23:59 ')).toEqual({ ok: true, value: { hour: 23, minute: 59 } })
    for (const bad of ['8:30', '24:00', '08:60', '0830', '08:30:00', 'morning', '']) expect(parseDigestAt(bad)).toMatchObject({ ok: false, error: expect.stringContaining('HH:MM') })
  })

  it('is today when still ahead, else tomorrow, keyed by the local date', () => {
    const at = { hour: 8, minute: 30 }
    expect(nextDigest('UTC', at, Z('2026-12-01T08:29:59Z'))).toEqual({ dueMs: Z('2026-12-01T08:30:00Z'), date: '2026-12-01' })
    expect(nextDigest('UTC', at, Z('2026-12-01T08:30:00Z'))).toEqual({ dueMs: Z('2026-12-01T08:30:00Z'), date: '2026-12-01' })
    expect(nextDigest('UTC', at, Z('2026-12-01T08:30:01Z'))).toEqual({ dueMs: Z('2026-12-02T08:30:00Z'), date: '2026-12-02' })
    // Berlin is UTC+1 in December: 08:30 there is 07:30Z.
    expect(nextDigest('Europe/Berlin', at, Z('2026-12-01T07:00:00Z'))).toEqual({ dueMs: Z('2026-12-01T07:30:00Z'), date: '2026-12-01' })
    // 23:30 local on 1 December in Auckland (UTC+13) is 10:30Z: the key is Auckland's date.
    expect(nextDigest('Pacific/Auckland', { hour: 23, minute: 30 }, Z('2026-12-01T10:00:00Z'))).toEqual({ dueMs: Z('2026-12-01T10:30:00Z'), date: '2026-12-01' })
  })

  it("still finds today's run within the grace after it, and yesterday's just after midnight", () => {
    const at = { hour: 8, minute: 30 }
    expect(nextDigest('UTC', at, Z('2026-12-01T09:00:00Z'), 3_600_000)).toEqual({ dueMs: Z('2026-12-01T08:30:00Z'), date: '2026-12-01' })
    expect(nextDigest('UTC', at, Z('2026-12-01T09:31:00Z'), 3_600_000).date).toBe('2026-12-02')
    expect(nextDigest('UTC', { hour: 23, minute: 50 }, Z('2026-12-02T00:10:00Z'), 3_600_000)).toEqual({ dueMs: Z('2026-12-01T23:50:00Z'), date: '2026-12-01' })
  })

  it('runs once on the days the clocks change: a skipped time when the gap ends, a doubled one the first time', () => {
    // Berlin 2026: 02:00 CET -> 03:00 CEST on 29 March; 03:00 CEST -> 02:00 CET on 25 October.
    expect(iso(nextDigest('Europe/Berlin', { hour: 2, minute: 30 }, Z('2026-03-28T12:00:00Z')).dueMs)).toBe('2026-03-29T01:30:00.000Z')
    expect(iso(nextDigest('Europe/Berlin', { hour: 2, minute: 30 }, Z('2026-10-24T12:00:00Z')).dueMs)).toBe('2026-10-25T00:30:00.000Z')
    // After the first 02:30 of 25 October, the next run is the 26th's, not the second 02:30 an hour later.
    expect(nextDigest('Europe/Berlin', { hour: 2, minute: 30 }, Z('2026-10-25T00:30:01Z'))).toEqual({ dueMs: Z('2026-10-26T01:30:00Z'), date: '2026-10-26' })
    // 08:30 either side of the spring change is 23 h apart, of the autumn one 25 h.
    const a = nextDigest('Europe/Berlin', { hour: 8, minute: 30 }, Z('2026-03-28T00:00:00Z')).dueMs
    const b = nextDigest('Europe/Berlin', { hour: 8, minute: 30 }, a + 1).dueMs
    expect((b - a) / 3_600_000).toBe(23)
    const c = nextDigest('Europe/Berlin', { hour: 8, minute: 30 }, Z('2026-10-24T00:00:00Z')).dueMs
    const d = nextDigest('Europe/Berlin', { hour: 8, minute: 30 }, c + 1).dueMs
    expect((d - c) / 3_600_000).toBe(25)
  })

  it('comes once for every local date of a year, in order, in zones with and without DST', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'UTC']) {
      for (const at of [{ hour: 2, minute: 15 }, { hour: 8, minute: 30 }]) {
        let now = Z('2026-01-01T00:00:00Z')
        const dates: string[] = []
        while (dates.length < 366) {
          const n = nextDigest(zone, at, now)
          dates.push(n.date)
          now = n.dueMs + 1
        }
        expect(new Set(dates).size).toBe(dates.length)
        expect(dates.every((x, i) => i === 0 || x > dates[i - 1]!)).toBe(true)
        // No date skipped: each is the day after the one before.
        expect(dates.every((x, i) => i === 0 || Date.parse(`${x}T00:00:00Z`) - Date.parse(`${dates[i - 1]}T00:00:00Z`) === 86_400_000)).toBe(true)
      }
    }
  })
})

describe('the digest window', () => {
  it('runs from the same local time the day before to the digest time, 25 h across the autumn change and 23 h across the spring one', () => {
    const at = { hour: 8, minute: 30 }
    // The digest of a date, as the scheduler has it: nextDigest's at that date's (UTC) midnight, before 08:30 there.
    const on = (zone: string, date: string) => { const due = nextDigest(zone, at, Z(`${date}T00:00:00Z`)); expect(due.date).toBe(date); return due }
    expect(digestWindow('Europe/Berlin', at, on('Europe/Berlin', '2026-10-25'))).toEqual({ fromMs: Z('2026-10-24T06:30:00Z'), toMs: Z('2026-10-25T07:30:00Z') })
    expect(digestWindow('Europe/Berlin', at, on('Europe/Berlin', '2026-10-26'))).toEqual({ fromMs: Z('2026-10-25T07:30:00Z'), toMs: Z('2026-10-26T07:30:00Z') })
    expect(digestWindow('Europe/Berlin', at, on('Europe/Berlin', '2026-03-29'))).toEqual({ fromMs: Z('2026-03-28T07:30:00Z'), toMs: Z('2026-03-29T06:30:00Z') })
    expect(digestWindow('UTC', at, on('UTC', '2027-01-01'))).toEqual({ fromMs: Z('2026-12-31T08:30:00Z'), toMs: Z('2027-01-01T08:30:00Z') })
  })

  it('ends at each digest time and starts where the digest before ended, for every day of a year, in zones with and without DST', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'UTC']) {
      // 02:15 is skipped in spring in the first three (and doubled in autumn in Berlin); 01:45 is doubled in autumn in New York and Lord Howe.
      for (const at of [{ hour: 2, minute: 15 }, { hour: 1, minute: 45 }, { hour: 8, minute: 30 }]) {
        let previous = nextDigest(zone, at, Z('2026-01-01T00:00:00Z'))
        for (let i = 0; i < 366; i++) {
          const next = nextDigest(zone, at, previous.dueMs + 1)
          const w = digestWindow(zone, at, next)
          expect({ zone, at, date: next.date, ...w }).toEqual({ zone, at, date: next.date, fromMs: previous.dueMs, toMs: next.dueMs })
          // The review reads it as GET /api/v1/review.md?from=…&to=… would, at the time or a little after.
          const read = parseReviewWindow({ from: iso(w.fromMs), to: iso(w.toMs) }, next.dueMs + 1234, zone)
          expect(read.ok && read.value).toEqual(digestReviewWindow(zone, next.dueMs + 1234, w))
          previous = next
        }
      }
    }
  })
})

describe('the webhook body', () => {
  const fits = (text: string) => text.length <= digestLimits.maxChars && Buffer.byteLength(text) <= digestLimits.maxBytes

  it('is {"text": markdown} as Slack, Mattermost and Teams take it', () => {
    expect(digestBody('# Operations review\n\nall quiet')).toEqual({ text: '# Operations review\n\nall quiet' })
  })

  it('is cut at a line end under every chat limit, and says so', () => {
    const md = Array.from({ length: 2000 }, (_, i) => `| inc-${i} | Checkout payment timeouts | critical | open |`).join('\n')
    const { text } = digestBody(md)
    expect(fits(text)).toBe(true)
    expect(text).toMatch(/\| open \|\n\n… cut here to fit the chat: the whole review is at `GET \/api\/v1\/review.md`/)
    expect(md.startsWith(text.slice(0, text.indexOf('\n\n…')))).toBe(true)
  })

  it('counts bytes for text in other scripts, and never splits a character', () => {
    const emoji = '🔥'.repeat(20_000)
    const a = digestBody(emoji).text
    expect(fits(a)).toBe(true)
    expect(a).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/)
    expect(Buffer.from(a, 'utf8').toString('utf8')).toBe(a)
    const cjk = '障害対応の振り返り\n'.repeat(3000)
    const b = digestBody(cjk).text
    expect(fits(b)).toBe(true)
    expect(Buffer.byteLength(b)).toBeGreaterThan(digestLimits.maxBytes * 0.8)
  })
})

describe('the webhook post', () => {
  it('waits between retries, and stops waiting as soon as its signal aborts', async () => {
    let posts = 0
    const server = createServer((req, res) => { posts++; req.resume(); res.statusCode = 503; res.end() })
    server.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
    // No signal: every wait is waited out.
    expect(await postWebhook(url, { text: 'x' }, { policy: { attempts: 3, firstDelayMs: 20, maxDelayMs: 20, timeoutMs: 2_000 } })).toEqual({ ok: false, attempts: 3, status: 503, error: 'HTTP 503', permanent: false })
    expect(posts).toBe(3)
    // Aborted during a minute's wait: it ends then, without another attempt.
    const stop = new AbortController()
    const started = Date.now()
    const result = postWebhook(url, { text: 'x' }, { policy: { attempts: 3, firstDelayMs: 60_000, maxDelayMs: 60_000, timeoutMs: 2_000 }, signal: stop.signal, onRetry: () => setTimeout(() => stop.abort(), 50) })
    expect(await result).toMatchObject({ ok: false, attempts: 1, status: 503, error: 'aborted', permanent: true })
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(posts).toBe(4)
  })

  it('does not send again a post the chat took and answered too late: it may have shown it', async () => {
    let posts = 0
    const server = createServer((req, res) => { posts++; req.resume(); setTimeout(() => { if (!res.destroyed) res.end('ok') }, 300) })
    server.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
    const result = await postWebhook(url, { text: 'x' }, { policy: { attempts: 3, firstDelayMs: 20, maxDelayMs: 20, timeoutMs: 100 } })
    expect(result).toEqual({ ok: false, attempts: 1, error: 'timeout: the chat may have shown it; not sent again', permanent: true })
    expect(posts).toBe(1)
  })
})

/**
 * A scheduler posting to a local webhook, with faked timers and a clock set by hand (a day passes without
 * waiting for it), and `ledger` in memory. `after(ms)` moves both on and waits for the scheduler.
 */
/** A render giving the same digest every time, with these response times. */
const renderWith = (responseTimes: ResponseTimes = notConfigured): DigestSchedulerOptions['render'] => async () => ({
  markdown: 'review', listed: { window: { from: '2026-03-09T08:00:00.000Z', to: '2026-03-10T08:00:00.000Z' }, scope: '{}', ids: [] }, responseTimes,
})

async function scheduledDigest(o: { ledger: DigestLedger; render?: DigestSchedulerOptions['render']; logger?: DigestSchedulerOptions['logger']; onOutcome?: DigestSchedulerOptions['onOutcome']; onResponseTimes?: DigestSchedulerOptions['onResponseTimes'] }) {
  let posts = 0
  const server = createServer((req, res) => { posts++; req.resume(); res.end('ok') })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  onTestFinished(() => { vi.useRealTimers() })
  let now = Z('2026-03-10T08:00:00.500Z')
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined }
  const scheduler = startDigestScheduler({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, zone: 'UTC', at: { hour: 8, minute: 0 }, ledger: o.ledger,
    render: o.render ?? renderWith(),
    logger: o.logger ?? quiet, clock: () => now, leaseMs: 60_000, ledgerRetryMs: 1_000, ...(o.onOutcome ? { onOutcome: o.onOutcome } : {}), ...(o.onResponseTimes ? { onResponseTimes: o.onResponseTimes } : {}),
  })
  onTestFinished(() => scheduler.stop())
  const after = async (ms: number) => {
    now += ms
    await vi.advanceTimersByTimeAsync(ms)
    await scheduler.idle()
  }
  return { after, posts: () => posts, now: () => now }
}

/** One instance's ledger in memory: each day claimed once, then posted or failed. */
function memoryLedger(records = new Map<string, 'posting' | 'posted' | 'failed'>(), finished: () => void = () => undefined): DigestLedger {
  return {
    async claim(date, owner) {
      const state = records.get(date)
      if (state === 'posted' || state === 'failed') return { state }
      records.set(date, 'posting')
      return { state: 'claimed', claim: { date, owner, seqNo: 1, primaryTerm: 1 } }
    },
    async finish(claim, outcome) {
      records.set(claim.date, outcome.state)
      finished()
    },
    listedBefore: async () => [],
  }
}

describe('the digest scheduler', () => {
  it('counts a day whose record was written but whose answer was lost once, not again when the next day comes', async () => {
    // The first finish is written, but its answer is lost.
    const records = new Map<string, 'posting' | 'posted' | 'failed'>()
    let lostAnswers = 1
    const ledger = memoryLedger(records, () => { if (lostAnswers-- > 0) throw new Error('socket hang up') })
    const outcomes: [DigestOutcome, string][] = []
    const d = await scheduledDigest({ ledger, onOutcome: (o, date) => outcomes.push([o, date]) })
    await d.after(0)
    expect(outcomes).toEqual([])
    await d.after(1_000)
    expect(outcomes).toEqual([['posted', '2026-03-10']])
    await d.after(Z('2026-03-11T08:00:00.500Z') - d.now())
    expect(outcomes).toEqual([['posted', '2026-03-10'], ['posted', '2026-03-11']])
    expect(d.posts()).toBe(2)
    expect(records).toEqual(new Map([['2026-03-10', 'posted'], ['2026-03-11', 'posted']]))
  })

  it('posts a digest whose response times Prometheus did not give, warns the operator with the error, and says how each read went', async () => {
    const warnings: [object, string][] = []
    const reads: [string, string][] = []
    const logger = { info: () => undefined, warn: (obj: object, msg: string) => { warnings.push([obj, msg]) }, error: () => undefined }
    const down = await scheduledDigest({ ledger: memoryLedger(), render: renderWith({ status: 'unavailable', name: 'p95', error: 'connect ECONNREFUSED 127.0.0.1:9090' }), logger, onResponseTimes: (status, date) => reads.push([status, date]) })
    await down.after(1_000)
    expect(down.posts()).toBe(1)
    expect(warnings).toEqual([[{ date: '2026-03-10', error: 'connect ECONNREFUSED 127.0.0.1:9090' }, 'digest without response times: Prometheus gave none']])
    const others: ResponseTimes[] = [{ status: 'ok', name: 'p95', items: [] }, notConfigured]
    for (const responseTimes of others) {
      const d = await scheduledDigest({ ledger: memoryLedger(), render: renderWith(responseTimes), logger, onResponseTimes: (status, date) => reads.push([status, date]) })
      await d.after(1_000)
      expect(d.posts()).toBe(1)
    }
    expect(warnings).toHaveLength(1)
    expect(reads).toEqual([['unavailable', '2026-03-10'], ['ok', '2026-03-10'], ['not-configured', '2026-03-10']])
  })
})
