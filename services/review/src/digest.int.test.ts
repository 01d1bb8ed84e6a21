import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { errors } from '@elastic/elasticsearch'
import { digestMarkdown, elasticsearchDigestLedger, MAX_RECORDED_NEW, startDigestScheduler, type DigestLedger, type DigestOutcome, type DigestWindow, type ListedNew, type RenderedDigest } from '@opsreview/review/digest'
import { bulkAction, incidentDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import { noTeams } from '@opsreview/review/teams'
import { localDate, localTime } from '@opsreview/review/zone'
import { captureLogs, cleanupIndices, deleteIndices, esClient, uniqueName, waitFor } from '@opsreview/testing'
import { incident, seedSmallReview, seedSmallReviewAt } from './fuzz-seed.ts'
import { cuttableElasticsearch } from './test-es-proxy.ts'

const SECRET = 'T000/B000/not-a-real-secret-42'

/**
 * A chat's incoming webhook on localhost: records each post, and answers with the statuses given, then 200
 * (after `beforeAnswer`, if given).
 */
async function sink(statuses: number[] = [], beforeAnswer?: () => void) {
  const posts: { at: number; contentType: string | undefined; body: unknown; path: string | undefined }[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      posts.push({ at: Date.now(), contentType: req.headers['content-type'], path: req.url, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      beforeAnswer?.()
      res.statusCode = statuses.shift() ?? 200
      res.end(res.statusCode === 200 ? 'ok' : 'no')
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/${SECRET}`, posts }
}

// The digests only read the seeded review, so the file seeds one for all its tests (making and deleting its
// indices took about two seconds a test); a test that adds to it seeds its own (`ownSeed`).
const shared = { es: esClient(), prefix: uniqueName('digestreview') }
beforeAll(() => seedSmallReviewAt(shared.es, shared.prefix))
afterAll(async () => {
  await deleteIndices(shared.prefix)
  await shared.es.close()
})

/**
 * The review's Markdown on a seeded Elasticsearch, a ledger index of the test's own, and a clock shifted so
 * that the digest time (the next whole minute, or `target`) comes in about a second and a half.
 */
async function setUp(opts: { zone?: string; target?: number; ownSeed?: boolean } = {}) {
  const { es, prefix } = opts.ownSeed ? await seedSmallReview() : shared
  if (opts.ownSeed) onTestFinished(() => es.close())
  const ledgerIndex = uniqueName('digests')
  cleanupIndices(ledgerIndex)
  // Each ledger write waits for the index's next refresh (refresh=wait_for; every second by default). The
  // tests read the record by id, which does not wait for a refresh: a shorter interval changes only the wait.
  await es.indices.putIndexTemplate({ name: ledgerIndex, index_patterns: [ledgerIndex], template: { settings: { refresh_interval: '50ms' } } })
  const zone = opts.zone ?? 'UTC'
  const target = opts.target ?? Math.ceil((Date.now() + 60_000) / 60_000) * 60_000
  const offset = target - 1500 - Date.now()
  const clock = () => Date.now() + offset
  const local = localTime(zone, target)
  const names = indexNames(prefix)
  const indices = { alerts: names.alerts.alias, incidents: names.incidents.alias, problems: names.problems.alias }
  const render = (now: number, window: DigestWindow, earlier?: readonly ListedNew[]) => digestMarkdown(es, indices, { zone, scope: { environments: [], teams: noTeams } }, now, window, earlier)
  return { es, ledgerIndex, zone, target, clock, at: { hour: local.hour, minute: local.minute }, indices, render, date: localDate(zone, target) }
}

const fast = { attempts: 4, firstDelayMs: 50, maxDelayMs: 200, timeoutMs: 5_000 }

function scheduler(s: Awaited<ReturnType<typeof setUp>>, url: string, opts: { leaseMs?: number; ledger?: DigestLedger; ledgerRetryMs?: number; graceMs?: number; render?: (now: number, window: DigestWindow, earlier: readonly ListedNew[]) => Promise<RenderedDigest> } = {}) {
  const { logger, lines } = captureLogs()
  const ledger = opts.ledger ?? elasticsearchDigestLedger(s.es, s.ledgerIndex, opts.leaseMs ?? 60_000)
  const outcomes: DigestOutcome[] = []
  const dates: string[] = []
  const sched = startDigestScheduler({
    url, zone: s.zone, at: s.at, ledger, render: opts.render ?? s.render, logger, clock: s.clock, policy: fast, leaseMs: opts.leaseMs ?? 60_000,
    onOutcome: (o, date) => { outcomes.push(o); dates.push(date) },
    ...(opts.ledgerRetryMs !== undefined ? { ledgerRetryMs: opts.ledgerRetryMs } : {}),
    ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
  })
  onTestFinished(() => sched.stop())
  return { ledger, outcomes, dates, lines, sched }
}

describe('the morning digest, posted to a local webhook sink, with its once-per-day record in Elasticsearch', () => {
  it('posts the review as {"text": markdown} once, at the time, and never logs the URL', async () => {
    const s = await setUp()
    const hook = await sink()
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const a = scheduler(s, hook.url)
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
    const post = hook.posts[0]!
    expect(post.at + (s.clock() - Date.now())).toBeGreaterThanOrEqual(s.target)
    expect(post.contentType).toBe('application/json')
    expect(Object.keys(post.body as object)).toEqual(['text'])
    expect((post.body as { text: string }).text).toMatch(/^> Scope: [^\n]+\n\n# Operations review [^\n]+ UTC\n/)
    expect((post.body as { text: string }).text).toContain('Checkout')
    const doc = await s.es.get<{ state: string; date: string; attempts: number; listed: { window: { from: string; to: string }; ids: string[] } }>({ index: s.ledgerIndex, id: s.date })
    // What it listed as new, for the next digest's late ones: nothing of the seed opened in its window.
    expect(doc._source).toMatchObject({ state: 'posted', date: s.date, attempts: 1, listed: { window: { from: new Date(s.target - 86_400_000).toISOString(), to: new Date(s.target).toISOString() }, ids: [] } })
    expect(JSON.stringify(a.lines)).not.toContain(SECRET)
    expect(JSON.stringify(a.lines)).not.toContain('/hooks/')
  }, 60_000)

  it('retries a 500 and a 503, and records how many attempts it took', async () => {
    const s = await setUp()
    const hook = await sink([500, 503])
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const a = scheduler(s, hook.url)
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(3)
    expect(new Set(hook.posts.map((p) => JSON.stringify(p.body))).size).toBe(1)
    expect((await s.es.get<{ attempts: number }>({ index: s.ledgerIndex, id: s.date }))._source!.attempts).toBe(3)
    expect(a.lines.filter((l) => l.msg === 'digest post failed: retrying').map((l) => l.status)).toEqual([500, 503])
    expect(JSON.stringify(a.lines)).not.toContain(SECRET)
  }, 60_000)

  it('gives up at once on a 4xx other than 429: the URL or the body is wrong', async () => {
    const s = await setUp()
    const hook = await sink([404])
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const a = scheduler(s, hook.url)
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['failed'])
    expect(hook.posts).toHaveLength(1)
    expect((await s.es.get<{ state: string; error: string }>({ index: s.ledgerIndex, id: s.date }))._source).toMatchObject({ state: 'failed', error: 'HTTP 404' })
  }, 60_000)

  it('posts once with two instances at the time, and not again after a restart the same day', async () => {
    const s = await setUp()
    const hook = await sink()
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 2_000).ensure()
    // A short lease: the instance that loses looks again soon after, and finds the day done.
    const [a, b] = [scheduler(s, hook.url, { leaseMs: 2_000 }), scheduler(s, hook.url, { leaseMs: 2_000 })]
    await waitFor(() => (a.outcomes.length > 0 && b.outcomes.length > 0) || undefined, { timeoutMs: 30_000, what: 'both instances done with the day' })
    expect([...a.outcomes, ...b.outcomes].sort()).toEqual(['posted', 'skipped'])
    expect(hook.posts).toHaveLength(1)
    // A restart within the grace: the new scheduler finds the day's record and does not post.
    await a.sched.stop()
    const c = scheduler(s, hook.url, { leaseMs: 2_000 })
    await waitFor(() => c.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the restarted instance' })
    expect(c.outcomes).toEqual(['skipped'])
    expect(hook.posts).toHaveLength(1)
  }, 60_000)

  it("takes over the claim of an instance that died while posting, once its lease is over", async () => {
    const s = await setUp()
    const hook = await sink()
    const ledger = elasticsearchDigestLedger(s.es, s.ledgerIndex, 2_000)
    await ledger.ensure()
    const dead = await ledger.claim(s.date, 'crashed-instance', s.clock())
    expect(dead.state).toBe('claimed')
    const a = scheduler(s, hook.url, { leaseMs: 2_000 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the take-over' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
    expect(a.lines.some((l) => l.msg === 'digest being posted by another instance: checking again after its lease')).toBe(true)
  }, 60_000)

  it('renews its own claim at once, and holds another owner off until the lease is over', async () => {
    const s = await setUp()
    const ledger = elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000)
    await ledger.ensure()
    const first = await ledger.claim(s.date, 'instance-a', s.clock())
    expect(first.state).toBe('claimed')
    const again = await ledger.claim(s.date, 'instance-a', s.clock())
    expect(again).toMatchObject({ state: 'claimed', claim: { date: s.date, owner: 'instance-a' } })
    if (first.state !== 'claimed' || again.state !== 'claimed') return
    expect(again.claim.seqNo).toBeGreaterThan(first.claim.seqNo)
    expect(await ledger.claim(s.date, 'instance-b', s.clock())).toMatchObject({ state: 'held' })
    await ledger.finish(again.claim, { state: 'posted', attempts: 1 }, s.clock())
    expect(await ledger.claim(s.date, 'instance-a', s.clock())).toEqual({ state: 'posted' })
  }, 60_000)

  it('posts once when Elasticsearch is gone for a moment after the post: only the record is tried again', async () => {
    const s = await setUp()
    const proxied = await cuttableElasticsearch()
    // Elasticsearch goes away while the chat takes the first post, so the day's record cannot be written.
    let cuts = 1
    const hook = await sink([], () => { if (cuts-- > 0) proxied.cut() })
    const ledger = elasticsearchDigestLedger(proxied.es, s.ledgerIndex, 2_000)
    await ledger.ensure()
    const a = scheduler(s, hook.url, { ledger, leaseMs: 2_000, ledgerRetryMs: 100 })
    await waitFor(() => a.lines.some((l) => l.msg === 'digest ledger unreachable: trying again') || undefined, { timeoutMs: 30_000, what: 'the failed record' })
    proxied.restore()
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest recorded' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
    expect((await s.es.get<{ state: string; attempts: number }>({ index: s.ledgerIndex, id: s.date }))._source).toMatchObject({ state: 'posted', attempts: 1 })
    expect(a.lines.some((l) => l.msg === 'digest being posted by another instance: checking again after its lease')).toBe(false)
  }, 60_000)

  it('counts the day posted, not skipped, when its record was written but the answer was lost', async () => {
    const s = await setUp()
    const hook = await sink()
    const real = elasticsearchDigestLedger(s.es, s.ledgerIndex, 2_000)
    await real.ensure()
    let lostAnswers = 1
    const ledger: DigestLedger = {
      claim: (...args) => real.claim(...args),
      listedBefore: (...args) => real.listedBefore(...args),
      async finish(...args) {
        await real.finish(...args)
        if (lostAnswers-- > 0) throw new errors.ConnectionError('socket hang up')
      },
    }
    const a = scheduler(s, hook.url, { ledger, leaseMs: 2_000, ledgerRetryMs: 100 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
    expect((await s.es.get<{ state: string }>({ index: s.ledgerIndex, id: s.date }))._source!.state).toBe('posted')
  }, 60_000)

  /** The ledger on the real Elasticsearch, the review read through a proxy that is cut (`proxied.restore()` mends it). */
  async function unreadableReview(s: Awaited<ReturnType<typeof setUp>>) {
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const proxied = await cuttableElasticsearch()
    proxied.cut()
    const render = (now: number, window: DigestWindow) => digestMarkdown(proxied.es, s.indices, { zone: 'UTC', scope: { environments: [], teams: noTeams } }, now, window)
    return { proxied, render }
  }

  it('reads the review again while Elasticsearch does not answer, and posts once it does', async () => {
    const s = await setUp()
    const hook = await sink()
    const { proxied, render } = await unreadableReview(s)
    const a = scheduler(s, hook.url, { render, ledgerRetryMs: 100 })
    await waitFor(() => a.lines.some((l) => l.msg === 'digest review unreadable: trying again') || a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the review unreadable' })
    // Not a day's outcome: the day is still to be posted.
    expect(a.outcomes).toEqual([])
    proxied.restore()
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
    expect((hook.posts[0]!.body as { text: string }).text).toContain('Checkout')
    expect((await s.es.get<{ state: string; attempts: number }>({ index: s.ledgerIndex, id: s.date }))._source).toMatchObject({ state: 'posted', attempts: 1 })
  }, 60_000)

  it('fails the day, and records it failed, when the review stays unreadable past the grace', async () => {
    const s = await setUp()
    const hook = await sink()
    const { render } = await unreadableReview(s)
    // A grace of 1 s: the review (not the ledger) is unreadable all through it, and after.
    const a = scheduler(s, hook.url, { render, ledgerRetryMs: 100, graceMs: 1_000 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the day given up' })
    expect(a.outcomes).toEqual(['failed'])
    expect(a.dates).toEqual([s.date])
    expect(s.clock()).toBeGreaterThan(s.target + 1_000)
    expect(hook.posts).toHaveLength(0)
    expect(a.lines.some((l) => l.msg === 'digest review unreadable: trying again')).toBe(true)
    expect(a.lines.filter((l) => l.msg === 'digest not posted: the review stayed unreadable past the grace').map((l) => [l.level, l.date])).toEqual([[50, s.date]])
    const doc = await s.es.get<{ state: string; attempts: number; error: string }>({ index: s.ledgerIndex, id: s.date })
    expect(doc._source).toMatchObject({ state: 'failed', attempts: 0 })
    expect(doc._source!.error).toMatch(/^review not read: /)
  }, 60_000)

  it('fails the day when its record cannot be reached all through the grace, saying so', async () => {
    const s = await setUp()
    const hook = await sink()
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const proxied = await cuttableElasticsearch()
    proxied.cut()
    // The review reads; the ledger, behind the cut proxy, never answers: nobody can claim the day.
    const a = scheduler(s, hook.url, { ledger: elasticsearchDigestLedger(proxied.es, s.ledgerIndex, 60_000), ledgerRetryMs: 100, graceMs: 1_000 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the day given up' })
    expect(a.outcomes).toEqual(['failed'])
    expect(a.dates).toEqual([s.date])
    expect(s.clock()).toBeGreaterThan(s.target + 1_000)
    expect(hook.posts).toHaveLength(0)
    expect(a.lines.some((l) => l.msg === 'digest ledger unreachable: trying again')).toBe(true)
    const given = a.lines.filter((l) => l.msg === 'digest not posted: the ledger stayed unreachable past the grace')
    expect(given.map((l) => [l.level, l.date])).toEqual([[50, s.date]])
    expect(given[0]!.error).toMatch(/^digest record not reached: /)
    await expect(s.es.get({ index: s.ledgerIndex, id: s.date })).rejects.toMatchObject({ meta: { statusCode: 404 } })
  }, 60_000)

  it('counts the day posted once, when the post went out and its record could not be written all through the grace', async () => {
    const s = await setUp()
    const hook = await sink()
    const real = elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000)
    await real.ensure()
    const ledger: DigestLedger = {
      claim: (...args) => real.claim(...args),
      listedBefore: (...args) => real.listedBefore(...args),
      finish: async () => { throw new errors.ConnectionError('socket hang up') },
    }
    const a = scheduler(s, hook.url, { ledger, ledgerRetryMs: 100, graceMs: 1_000 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the day counted' })
    expect(a.outcomes).toEqual(['posted'])
    expect(a.dates).toEqual([s.date])
    expect(hook.posts).toHaveLength(1)
    expect(a.lines.filter((l) => l.msg === 'digest posted, but its record was never written: the ledger stayed unreachable past the grace').map((l) => l.date)).toEqual([s.date])
    // The next runs do not count it again, nor post it again.
    await new Promise((r) => setTimeout(r, 500))
    expect(a.outcomes).toEqual(['posted'])
    expect(hook.posts).toHaveLength(1)
  }, 60_000)

  it('fails the day, saying why, when Elasticsearch refuses the review as it is', async () => {
    const s = await setUp()
    const hook = await sink()
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const missing = uniqueName('no-such-index')
    const render = (now: number, window: DigestWindow) => digestMarkdown(s.es, { alerts: missing, incidents: missing, problems: missing }, { zone: 'UTC', scope: { environments: [], teams: noTeams } }, now, window)
    const a = scheduler(s, hook.url, { render, ledgerRetryMs: 100 })
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['failed'])
    expect(hook.posts).toHaveLength(0)
    expect((await s.es.get<{ state: string; attempts: number; error: string }>({ index: s.ledgerIndex, id: s.date }))._source).toMatchObject({
      state: 'failed', attempts: 0, error: 'review not read: Elasticsearch answered 404 index_not_found_exception',
    })
  }, 60_000)

  it("reports from yesterday's digest time to today's: the morning after the autumn change, 25 h", async () => {
    // Berlin, 08:30 on 25 October 2026 (07:30Z, CET); the day before, 08:30 was 06:30Z (CEST).
    const s = await setUp({ zone: 'Europe/Berlin', target: Date.parse('2026-10-25T07:30:00Z'), ownSeed: true })
    const opened = (title: string, n: number, at: string) => incident(n, { title, openedAt: at, resolvedAt: at, lastEventAt: at })
    const docs = [
      opened('Before yesterdays digest', 0x10, '2026-10-24T06:15:00.000Z'),
      // After yesterday's 08:30 and before 09:30: the hour a 24 h window leaves out.
      opened('In the extra hour', 0x11, '2026-10-24T06:45:00.000Z'),
      opened('Just before the digest', 0x12, '2026-10-25T07:15:00.000Z'),
      opened('After the digest', 0x13, '2026-10-25T07:45:00.000Z'),
    ].map((d) => incidentDocument(s.indices.incidents)(JSON.stringify(d)))
    expect((await s.es.bulk({ refresh: true, operations: docs.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    const hook = await sink()
    await elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000).ensure()
    const a = scheduler(s, hook.url)
    await waitFor(() => a.outcomes.length > 0 || undefined, { timeoutMs: 30_000, what: 'the digest' })
    expect(a.outcomes).toEqual(['posted'])
    expect(s.date).toBe('2026-10-25')
    const text = (hook.posts[0]!.body as { text: string }).text
    expect(text).toContain('# Operations review 2026-10-24 08:30 – 2026-10-25 08:30 Europe/Berlin\n')
    const newInWindow = text.slice(text.indexOf('## New in the window'), text.indexOf('## Problems'))
    expect(newInWindow).toContain('In the extra hour')
    expect(newInWindow).toContain('Just before the digest')
    expect(newInWindow).not.toContain('Before yesterdays digest')
    expect(newInWindow).not.toContain('After the digest')
  }, 60_000)

  it('lists the next morning, once, an incident of the window indexed only after its digest was posted', async () => {
    const s = await setUp({ target: Date.parse('2026-11-20T08:30:00Z'), ownSeed: true })
    const ledger = elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000)
    await ledger.ensure()
    const index = async (...docs: ReturnType<typeof incident>[]) => {
      const ops = docs.map((d) => incidentDocument(s.indices.incidents)(JSON.stringify(d)))
      expect((await s.es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    }
    const opened = (title: string, n: number, at: string) => incident(n, { title, openedAt: at, resolvedAt: at, lastEventAt: at })
    const day = 86_400_000
    const t1 = Date.parse('2026-11-20T08:30:00Z')
    /** The digest of the day ending at `to`, posted a minute later and recorded as the scheduler does. */
    const post = async (to: number, date: string) => {
      const earlier = await ledger.listedBefore(date, to + 60_000)
      const digest = await s.render(to + 60_000, { fromMs: to - day, toMs: to }, earlier)
      const claim = await ledger.claim(date, 'test', to + 60_000)
      if (claim.state !== 'claimed') throw new Error(`not claimed: ${claim.state}`)
      await ledger.finish(claim.claim, { state: 'posted', attempts: 1, listed: digest.listed }, to + 60_000)
      const newInWindow = digest.markdown.slice(digest.markdown.indexOf('## New in the window'), digest.markdown.indexOf('## Problems'))
      return { earlier, digest, newInWindow }
    }

    await index(opened('Reported yesterday', 0x21, '2026-11-19T12:00:00.000Z'))
    const first = await post(t1, '2026-11-20')
    expect(first.earlier).toEqual([])
    expect(first.digest.listed).toMatchObject({ window: { from: new Date(t1 - day).toISOString(), to: new Date(t1).toISOString() }, ids: [incident(0x21, {}).id] })

    // Opened 10 s before the digest, behind Alertmanager's group_wait: indexed after it was posted.
    await index(opened('Behind the group wait', 0x22, '2026-11-20T08:29:50.000Z'), opened('Today', 0x23, '2026-11-20T15:00:00.000Z'))
    const second = await post(t1 + day, '2026-11-21')
    expect(second.earlier).toEqual([first.digest.listed])
    expect(second.newInWindow).toContain("1 of them opened in an earlier digest's window, and were not listed by it: indexed only after it was posted, or more than it records.")
    // Listed first: a cut list or a cut post keeps it.
    expect(second.newInWindow.indexOf('Behind the group wait')).toBeGreaterThan(0)
    expect(second.newInWindow.indexOf('Behind the group wait')).toBeLessThan(second.newInWindow.indexOf('Today'))
    expect(second.newInWindow).not.toContain('Reported yesterday')
    expect(second.digest.listed.ids).toEqual([incident(0x22, {}).id, incident(0x23, {}).id])
    // A digest of another scope does not go by that record: what it left out says nothing of this one.
    const production = await digestMarkdown(s.es, s.indices, { zone: 'UTC', scope: { environments: ['production'], teams: noTeams } }, t1 + day + 60_000, { fromMs: t1, toMs: t1 + day }, [first.digest.listed])
    expect(production.listed.ids).toEqual([incident(0x23, {}).id])

    // And never again: the day after lists neither.
    const third = await post(t1 + 2 * day, '2026-11-22')
    expect(third.earlier).toHaveLength(2)
    expect(third.digest.listed.ids).toEqual([])
    expect(third.newInWindow).not.toContain('Behind the group wait')
    expect(third.newInWindow).not.toContain('earlier digest')
  }, 60_000)

  it('lists the night\'s critical incident among the new ones even when 200 warnings opened after it', async () => {
    const s = await setUp({ target: Date.parse('2026-10-02T08:30:00Z'), ownSeed: true })
    const to = Date.parse('2026-10-02T08:30:00Z')
    const opened = (i: number, severity: string, at: string) => incident(0x200000 + i, { title: `${severity} ${i}`, severity, openedAt: at, resolvedAt: at, lastEventAt: at })
    const docs = [
      opened(0, 'critical', '2026-10-01T23:00:00Z'),
      ...Array.from({ length: 200 }, (_, i) => opened(i + 1, 'warning', new Date(to - 3_600_000 + i * 1000).toISOString())),
    ].map((d) => incidentDocument(s.indices.incidents)(JSON.stringify(d)))
    expect((await s.es.bulk({ refresh: true, operations: docs.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    const digest = await s.render(to + 60_000, { fromMs: to - 86_400_000, toMs: to })
    const listed = digest.markdown.slice(digest.markdown.indexOf('## New in the window'), digest.markdown.indexOf('## Problems'))
    // Until 2026-12-06 the 200 newest were listed: the warnings, and the critical one was cut.
    expect(listed).toContain('| critical | critical 0 (')
    expect(listed).toContain('_200 of 201 shown._')
    expect(listed).not.toContain('| warning 1 (')
  })

  it('counts each new incident of a day of more than it records once: the most severe in it, the rest in the next digest, saying so', async () => {
    const s = await setUp({ target: Date.parse('2026-10-02T08:30:00Z'), ownSeed: true })
    const ledger = elasticsearchDigestLedger(s.es, s.ledgerIndex, 60_000)
    await ledger.ensure()
    const day = 86_400_000
    const to = Date.parse('2026-10-02T08:30:00Z')
    // 5 critical, the newest, and 10,000 info before them.
    const opened = (i: number) => {
      const at = new Date(to - 3_600_000 - i * 1000).toISOString()
      return incident(0x100000 + i, { severity: i < 5 ? 'critical' : 'info', openedAt: at, resolvedAt: at, lastEventAt: at })
    }
    const docs = Array.from({ length: MAX_RECORDED_NEW + 5 }, (_, i) => incidentDocument(s.indices.incidents)(JSON.stringify(opened(i))))
    // The four requests side by side: each is refreshed before it is answered, so all are searchable once all are.
    const chunks = Array.from({ length: Math.ceil(docs.length / 2_500) }, (_, i) => docs.slice(i * 2_500, (i + 1) * 2_500))
    const bulks = await Promise.all(chunks.map((chunk) => s.es.bulk({ refresh: true, operations: chunk.flatMap((o) => [bulkAction(o), o.document]) })))
    for (const r of bulks) expect(r.errors).toBe(false)
    const post = async (until: number, date: string) => {
      const digest = await s.render(until + 60_000, { fromMs: until - day, toMs: until }, await ledger.listedBefore(date, until + 60_000))
      const claim = await ledger.claim(date, 'test', until + 60_000)
      if (claim.state !== 'claimed') throw new Error(`not claimed: ${claim.state}`)
      await ledger.finish(claim.claim, { state: 'posted', attempts: 1, listed: digest.listed }, until + 60_000)
      return digest
    }
    const first = await post(to, '2026-10-02')
    // Until 2026-12-06 the count stopped at the 10,000 recorded without a word; the critical ones, the newest, were among those left out.
    expect(first.markdown).toContain('**10000 new incidents** (5 critical, 0 warning, 9995 info)')
    expect(first.markdown).toContain('5 more than a digest records: the next digest lists them.')
    expect(first.listed.ids).toHaveLength(MAX_RECORDED_NEW)
    for (let i = 0; i < 5; i++) expect(first.listed.ids).toContain(opened(i).id)
    // The newest info ones wait: the 5 after the 5 critical.
    for (let i = 5; i < 10; i++) expect(first.listed.ids).not.toContain(opened(i).id)
    const second = await post(to + day, '2026-10-03')
    expect(second.markdown).toContain('**5 new incidents** (0 critical, 0 warning, 5 info)')
    expect(second.markdown).toContain("5 of them opened in an earlier digest's window, and were not listed by it")
    expect(second.markdown).not.toContain('more than a digest records')
    expect([...second.listed.ids].sort()).toEqual([5, 6, 7, 8, 9].map((i) => opened(i).id).sort())
  }, 60_000)
})
