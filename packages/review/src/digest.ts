// The morning digest: the review's Markdown posted to a chat's incoming webhook (Slack, Mattermost and Teams
// take the same `{"text": …}` body) at a local time of day, once per local day however many review
// instances run and however often they restart. docs/review.md, "The morning digest".
import { randomUUID } from 'node:crypto'
import type { Client } from '@elastic/elasticsearch'
import { backoffMs, sleepUnlessAborted } from '@opsreview/lifecycle/backoff'
import { isElasticsearchUnavailable, responseOf } from '@opsreview/search-index/errors'
import type { DegradedRule } from './degraded.ts'
import { reviewMarkdown, scopeMarkdown } from './markdown.ts'
import { rankedBySeverity } from './ranking.ts'
import { buildReview, newIncidentsQuery, type ReviewIndices } from './report.ts'
import type { ResponseTimes, ResponseTimeSource } from './response-times.ts'
import { hitsTotal } from './search.ts'
import { parseScope, scopeFilter, type ScopeDefaults } from './scope.ts'
import type { ReviewWindowAt } from './window.ts'
import { addDays, instantOf, localDate, localTime } from './zone.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND

/** A local time of day, `08:30`. */
export interface DigestTime {
  hour: number
  minute: number
}

/** `HH:MM` (24 h clock) as a time of day, or why not. */
export function parseDigestAt(raw: string): { ok: true; value: DigestTime } | { ok: false; error: string } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(raw.trim())
  if (!m) return { ok: false, error: `must be a local time of day HH:MM (24 h), got ${JSON.stringify(raw)}` }
  return { ok: true, value: { hour: Number(m[1]), minute: Number(m[2]) } }
}

/**
 * The next digest: the first local day, from the one `nowMs` falls in, whose `at` is not more than `graceMs`
 * before now, with that day's date (the once-per-day key). A time the clocks skip (02:30 on the spring-forward
 * day) runs when the gap ends; a time that happens twice (fall-back) runs at its first occurrence: one run a day
 * either way. `graceMs` lets a review that starts a little after the time (a restart, a deploy) still post.
 */
export function nextDigest(zone: string, at: DigestTime, nowMs: number, graceMs = 0): { dueMs: number; date: string } {
  let day = localTime(zone, nowMs)
  // Yesterday's run can still be in its grace when now is just after midnight.
  day = { ...day, ...addDays(day, -1) }
  for (let i = 0; i < 3; i++, day = { ...day, ...addDays(day, 1) }) {
    const dueMs = instantOf(zone, { year: day.year, month: day.month, day: day.day, hour: at.hour, minute: at.minute })
    if (dueMs + graceMs >= nowMs) return { dueMs, date: localDate(zone, dueMs) }
  }
  /* c8 ignore next */
  throw new Error('unreachable: a run time within three local days')
}

/** The span a digest reports on, as instants. */
export interface DigestWindow {
  fromMs: number
  toMs: number
}

/**
 * The window of a digest (`nextDigest`'s answer): from the digest time of the local day before to this one's.
 * Each digest starts where the one before ended, so every instant is in exactly one of them, however long the
 * local day (25 h across the autumn change, 23 h across the spring one); the same window as
 * `since=yesterday-08:30` read at 08:30.
 */
export function digestWindow(zone: string, at: DigestTime, due: { dueMs: number; date: string }): DigestWindow {
  const [year, month, day] = due.date.split('-').map(Number) as [number, number, number]
  return { fromMs: instantOf(zone, { ...addDays({ year, month, day }, -1), hour: at.hour, minute: at.minute }), toMs: due.dueMs }
}

/**
 * What every target takes: Mattermost refuses a post over 16,383 characters, Teams a webhook message over
 * about 28 KB, Slack truncates text past 40,000. The digest keeps under all three.
 */
export const digestLimits = Object.freeze({ maxChars: 15_000, maxBytes: 24_000 })

/**
 * The webhook body: `{"text": markdown}`, the Markdown cut at a line end when it is too long for the chats,
 * with a last line saying so and where the whole review is. Never cut inside a UTF-16 surrogate pair.
 */
export function digestBody(markdown: string, limits: { maxChars: number; maxBytes: number } = digestLimits): { text: string } {
  const fits = (s: string) => s.length <= limits.maxChars && Buffer.byteLength(s, 'utf8') <= limits.maxBytes
  if (fits(markdown)) return { text: markdown }
  const note = '\n\n… cut here to fit the chat: the whole review is at `GET /api/v1/review.md` and on the dashboard.'
  // Bytes are at most 4 per character (3 per UTF-16 unit): start from a length that fits both, then trim.
  let end = Math.min(limits.maxChars - note.length, Math.floor((limits.maxBytes - Buffer.byteLength(note)) / 3))
  while (end > 0 && !fits(markdown.slice(0, end) + note)) end = Math.floor(end * 0.95)
  let cut = markdown.slice(0, Math.max(0, end))
  const lastLine = cut.lastIndexOf('\n')
  if (lastLine > cut.length / 2) cut = cut.slice(0, lastLine)
  else if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1)
  return { text: cut.trimEnd() + note }
}

/**
 * The digest window as the review reads it: what `parseReviewWindow` makes of its `from` and `to` (no `tz`,
 * the review's zone) at `nowMs`, built directly; a window of a day or so is always valid.
 */
export function digestReviewWindow(zone: string, nowMs: number, window: DigestWindow): ReviewWindowAt {
  return { from: new Date(window.fromMs).toISOString(), to: new Date(window.toMs).toISOString(), timeZone: zone, now: new Date(nowMs).toISOString() }
}

/** A digest as rendered: its Markdown, and what it lists as new, for its ledger record. */
export interface RenderedDigest {
  markdown: string
  listed: ListedNew
  /** The review's read of the response times: when Prometheus gave none (down, slow, refused the query), the operator is told, not only the chat. */
  responseTimes: ResponseTimes
}

/** The most new incident ids a digest records: a day of more lists the rest again in the next one. */
export const MAX_RECORDED_NEW = 10_000

/**
 * The digest's Markdown: the review of its window in the review's zone and default scope, exactly as
 * `GET /api/v1/review.md?from=…&to=…` answers it at `nowMs`, but for the new incidents: also those opened
 * in the window of an `earlier` digest of the same scope that it did not list (indexed after it was posted).
 * The new ones are read once, and the review lists exactly those: one read for the list and another for the
 * record would disagree on an incident indexed between them.
 */
export async function digestMarkdown(es: Client, indices: ReviewIndices, o: { zone: string; scope: ScopeDefaults; degradedRule?: DegradedRule; responseTimes?: ResponseTimeSource }, nowMs: number, window: DigestWindow, earlier: readonly ListedNew[] = []): Promise<RenderedDigest> {
  const w = digestReviewWindow(o.zone, nowMs, window)
  const s = parseScope({}, o.scope)
  /* c8 ignore next */
  if (!s.ok) throw new Error('the default scope is always valid')
  const scope = scopeFilter(s.value, o.scope.teams)
  // A digest of another scope listed other incidents: its window says nothing of what this one missed.
  const scopeKey = JSON.stringify(scope)
  const same = earlier.filter((l) => l.scope === scopeKey)
  const late = { windows: same.map((l) => l.window), listed: same.flatMap((l) => l.ids) }
  // The most severe first, then the oldest: a day of more than it records leaves its least severe to the next.
  const found = await es.search({
    index: indices.incidents, size: MAX_RECORDED_NEW, _source: false, track_total_hits: true,
    query: rankedBySeverity(newIncidentsQuery(w, scope, late)), sort: [{ _score: { order: 'desc' } }, { openedAt: 'asc' }],
  })
  const ids = found.hits.hits.map((h) => h._id!)
  const review = await buildReview(es, indices, w, { scope, newIncidents: { ids, carried: hitsTotal(found) - ids.length }, ...(o.degradedRule ? { degradedRule: o.degradedRule } : {}), ...(o.responseTimes ? { responseTimes: o.responseTimes } : {}) })
  return { markdown: `${scopeMarkdown(s.value)}${reviewMarkdown(review)}`, listed: { window: { from: w.from, to: w.to }, scope: scopeKey, ids }, responseTimes: review.responseTimes }
}

/** How a post is retried. */
export interface RetryPolicy {
  attempts: number
  firstDelayMs: number
  maxDelayMs: number
  /** One request's timeout. */
  timeoutMs: number
}

/** 8 attempts over about 4 minutes (1, 2, 4 … 64 s apart), each given 30 s. */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({ attempts: 8, firstDelayMs: SECOND, maxDelayMs: 2 * MINUTE, timeoutMs: 30 * SECOND })

export type PostResult =
  | { ok: true; attempts: number; status: number }
  | { ok: false; attempts: number; status?: number; error: string; permanent: boolean }

/** Why a request failed, in words that never carry the URL (it is the webhook's secret). */
function failureOf(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } }
  if (e.name === 'TimeoutError') return 'timeout'
  if (e.name === 'AbortError') return 'aborted'
  return e.cause?.code ?? e.name ?? 'error'
}

/** Why the review could not be read: Elasticsearch's status and error type, or the error itself. */
function reviewFailureOf(err: unknown): string {
  const response = responseOf(err)
  if (response) return `review not read: Elasticsearch answered ${response.status}${response.error?.type ? ` ${response.error.type}` : ''}`
  const message = (err as { message?: unknown }).message
  return `review not read: ${failureOf(err)}${typeof message === 'string' && message !== '' ? `: ${message.slice(0, 200)}` : ''}`
}

/**
 * Posts the body as JSON, again on a network failure, a 429 or a 5xx, with doubling delays (a 429's
 * Retry-After in seconds is honoured, within the policy's longest delay). Another 4xx is permanent: the URL
 * or the body is wrong, and sending it again will not help. So is a timeout: the chat had the post and did
 * not answer in time, and may well have shown it (a chat answering in 11 s got the digest eight times).
 */
export async function postWebhook(url: string, body: unknown, opts: { policy?: RetryPolicy; signal?: AbortSignal; onRetry?: (r: { attempt: number; status?: number; error: string; delayMs: number }) => void } = {}): Promise<PostResult> {
  const policy = opts.policy ?? defaultRetryPolicy
  let last: { status?: number; error: string } = { error: 'not sent' }
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (opts.signal?.aborted) return { ok: false, attempts: attempt - 1, ...last, error: 'aborted', permanent: true }
    let retryAfterMs: number | undefined
    try {
      const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(policy.timeoutMs)]) : AbortSignal.timeout(policy.timeoutMs)
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal, redirect: 'error' })
      await res.arrayBuffer().catch(() => undefined)
      if (res.ok) return { ok: true, attempts: attempt, status: res.status }
      last = { status: res.status, error: `HTTP ${res.status}` }
      if (res.status !== 429 && res.status < 500) return { ok: false, attempts: attempt, ...last, permanent: true }
      const ra = Number(res.headers.get('retry-after'))
      if (res.status === 429 && Number.isFinite(ra) && ra > 0) retryAfterMs = ra * SECOND
    } catch (err) {
      last = { error: failureOf(err) }
      if (last.error === 'timeout') return { ok: false, attempts: attempt, error: 'timeout: the chat may have shown it; not sent again', permanent: true }
    }
    if (attempt === policy.attempts) break
    const wait = Math.min(policy.maxDelayMs, retryAfterMs ?? backoffMs(attempt, policy.firstDelayMs, policy.maxDelayMs))
    opts.onRetry?.({ attempt, ...last, delayMs: wait })
    await sleepUnlessAborted(wait, opts.signal)
  }
  return { ok: false, attempts: policy.attempts, ...last, permanent: false }
}

/** One day's claim on the digest: whoever holds it posts; its sequence numbers guard the update. */
export interface DigestClaim {
  date: string
  owner: string
  seqNo: number
  primaryTerm: number
}

/**
 * The once-per-day record, shared by every review instance. `claim` answers `claimed` to exactly one caller
 * per date, `posted` (or `failed`) once the day's digest is done, and `held` while another caller posts (its
 * claim is younger than the lease); an older claim is a crashed poster's, and is taken over. A caller's own
 * claim is renewed at once: it is trying again after an error of its own, not racing anyone.
 */
export interface DigestLedger {
  claim(date: string, owner: string, nowMs: number): Promise<{ state: 'claimed'; claim: DigestClaim } | { state: 'held'; until: number } | { state: 'posted' | 'failed' }>
  finish(claim: DigestClaim, outcome: { state: 'posted' | 'failed'; attempts: number; error?: string; listed?: ListedNew }, nowMs: number): Promise<void>
  /**
   * What the digests posted before `date` over the last `LATE_LOOK_BACK_MS` listed as new, those that
   * recorded it (a digest of a review before 2026-12-05 did not; nor does one whose record was never written).
   */
  listedBefore(date: string, nowMs: number): Promise<ListedNew[]>
}

/** What a posted digest listed as new: its window, its scope (as `digestMarkdown` keys it), the ids (at most `MAX_RECORDED_NEW`). */
export interface ListedNew {
  window: { from: string; to: string }
  scope: string
  ids: string[]
}

/** How far back a digest looks for incidents no earlier digest listed. */
export const LATE_LOOK_BACK_MS = 7 * 24 * 60 * MINUTE

interface LedgerDoc {
  date: string
  state: 'posting' | 'posted' | 'failed'
  owner: string
  claimedAt: string
  finishedAt?: string
  attempts?: number
  error?: string
  listed?: ListedNew
}

const statusOf = (err: unknown) => (err as { meta?: { statusCode?: number } }).meta?.statusCode

/**
 * The ledger as Elasticsearch documents, one per local date (its id): created with `op_type=create`, so of
 * two instances only one creates it; a take-over and the finish are conditional on the sequence number read.
 */
export function elasticsearchDigestLedger(es: Client, index: string, leaseMs: number): DigestLedger & { ensure(): Promise<void> } {
  return {
    async ensure() {
      try {
        await es.indices.create({ index, settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: { dynamic: false, properties: { date: { type: 'keyword' }, state: { type: 'keyword' }, claimedAt: { type: 'date' }, finishedAt: { type: 'date' } } } })
      } catch (err) {
        if ((err as { body?: { error?: { type?: string } } }).body?.error?.type !== 'resource_already_exists_exception' && !String(err).includes('resource_already_exists_exception')) throw err
      }
    },
    async claim(date, owner, nowMs) {
      const doc: LedgerDoc = { date, state: 'posting', owner, claimedAt: new Date(nowMs).toISOString() }
      try {
        const r = await es.create({ index, id: date, document: doc, refresh: 'wait_for' })
        return { state: 'claimed', claim: { date, owner, seqNo: r._seq_no!, primaryTerm: r._primary_term! } }
      } catch (err) {
        if (statusOf(err) !== 409) throw err
      }
      const got = await es.get<LedgerDoc>({ index, id: date })
      const held = got._source!
      if (held.state !== 'posting') return { state: held.state }
      const until = Date.parse(held.claimedAt) + leaseMs
      if (held.owner !== owner && until > nowMs) return { state: 'held', until }
      try {
        const r = await es.index({ index, id: date, document: doc, if_seq_no: got._seq_no!, if_primary_term: got._primary_term!, refresh: 'wait_for' })
        return { state: 'claimed', claim: { date, owner, seqNo: r._seq_no!, primaryTerm: r._primary_term! } }
      } catch (err) {
        if (statusOf(err) !== 409) throw err
        return { state: 'held', until: nowMs + leaseMs }
      }
    },
    async finish(claim, outcome, nowMs) {
      const doc: LedgerDoc = {
        date: claim.date, state: outcome.state, owner: claim.owner, claimedAt: new Date(nowMs).toISOString(), finishedAt: new Date(nowMs).toISOString(),
        attempts: outcome.attempts, ...(outcome.error !== undefined ? { error: outcome.error } : {}), ...(outcome.listed ? { listed: outcome.listed } : {}),
      }
      // A conflict means another instance took the claim over after the lease: it now owns the day.
      await es.index({ index, id: claim.date, document: doc, if_seq_no: claim.seqNo, if_primary_term: claim.primaryTerm, refresh: 'wait_for' })
    },
    async listedBefore(date, nowMs) {
      const since = nowMs - LATE_LOOK_BACK_MS
      const r = await es.search<LedgerDoc>({
        index, size: 16, _source: ['listed'],
        query: { bool: { filter: [{ term: { state: 'posted' } }, { range: { finishedAt: { gte: new Date(since).toISOString() } } }], must_not: [{ ids: { values: [date] } }] } },
      })
      return r.hits.hits.flatMap((h) => (h._source?.listed ? [h._source.listed] : []))
    },
  }
}

/** The part of a pino logger the scheduler uses. */
export interface DigestLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export const digestOutcomes = ['posted', 'failed', 'skipped'] as const
export type DigestOutcome = (typeof digestOutcomes)[number]

export interface DigestSchedulerOptions {
  /** The webhook; a secret: it is never logged. */
  url: string
  zone: string
  at: DigestTime
  ledger: DigestLedger
  /** The review's Markdown of the window (digestWindow) as of `nowMs`, given what `earlier` digests listed (digestMarkdown). */
  render: (nowMs: number, window: DigestWindow, earlier: readonly ListedNew[]) => Promise<RenderedDigest>
  logger: DigestLogger
  clock?: () => number
  policy?: RetryPolicy
  /** How late after the time a starting review still posts that day's digest. */
  graceMs?: number
  /** How long a claim is held before another instance may take it over: longer than all the retries take. */
  leaseMs: number
  /** When Elasticsearch cannot be reached (for the ledger or the review), how soon to try again. */
  ledgerRetryMs?: number
  /** Each day's outcome: posted, failed (after the retries, or refused), skipped (posted already elsewhere). */
  onOutcome?: (outcome: DigestOutcome, date: string) => void
  /** How each rendering's read of the response times went, for the metric the review's reads are counted in. */
  onResponseTimes?: (status: ResponseTimes['status'], date: string) => void
}

export const defaultDigestGraceMs = 60 * MINUTE

/**
 * What the scheduler still owes a day it tried and could not finish: an outcome once that day's grace is over,
 * unless a later try finishes it. One at a time, as each rules the others out.
 */
type UnfinishedDay =
  // A post the chat took whose record the ledger did not (a brief Elasticsearch error): the record is tried
  // again, the post never is.
  | { kind: 'posted-unrecorded'; date: string; result: PostResult & { ok: true }; listed: ListedNew }
  // Claimed by this instance, its review not readable yet (Elasticsearch unavailable): failed, and recorded so,
  // once its grace ends or a newer date comes up while it is still unread.
  | { kind: 'claimed-unreadable'; claim: DigestClaim; error: string }
  // Its claim got no answer at all (the ledger unreachable): failed once its grace ends without one; without
  // this a day of Elasticsearch gone would end in warnings alone.
  | { kind: 'ledger-unreached'; date: string; error: string }

const dateOf = (day: UnfinishedDay) => (day.kind === 'claimed-unreadable' ? day.claim.date : day.date)

/** Runs the digest every day at the time until stopped. */
export function startDigestScheduler(o: DigestSchedulerOptions): { stop(): Promise<void>; idle(): Promise<void> } {
  const clock = o.clock ?? Date.now
  const owner = randomUUID()
  const stopping = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let done = ''
  let unfinished: UnfinishedDay | undefined

  const schedule = (atMs: number) => {
    if (stopping.signal.aborted) return
    // setTimeout takes at most 2^31-1 ms; a day is well within it, and the clock is read again when it fires.
    timer = setTimeout(() => { running = run() }, Math.min(Math.max(0, atMs - clock()), 2 ** 31 - 1))
  }
  const scheduleNext = () => {
    const next = nextDigest(o.zone, o.at, clock(), o.graceMs ?? defaultDigestGraceMs)
    // A date already done here waits for the next one (the grace would find it again).
    const n = next.date === done ? nextDigest(o.zone, o.at, next.dueMs + MINUTE, 0) : next
    schedule(n.dueMs)
  }

  const finished = (date: string, result: PostResult) => {
    done = date
    if (result.ok) o.logger.info({ date, attempts: result.attempts }, 'digest posted')
    else o.logger.error({ date, attempts: result.attempts, status: result.status, error: result.error, permanent: result.permanent }, 'digest not posted')
    o.onOutcome?.(result.ok ? 'posted' : 'failed', date)
    scheduleNext()
  }

  /**
   * A day not posted within its grace (`why`): failed, and recorded so first when this instance holds its
   * claim and the ledger answers, as a finished day is.
   */
  async function failedPastGrace(date: string, error: string, why: string, claim?: DigestClaim): Promise<void> {
    if (claim) {
      try {
        await o.ledger.finish(claim, { state: 'failed', attempts: 0, error }, clock())
      } catch (err) {
        // Best effort: the record stays `posting`, and nobody posts that day after its grace.
        o.logger.warn({ date, err: { message: failureOf(err) } }, 'digest failure not recorded: ledger unreachable')
      }
    }
    o.logger.error({ date, attempts: 0, error, permanent: false }, `digest not posted: ${why}`)
    o.onOutcome?.('failed', date)
  }

  /** The days before `date` that this instance left without an outcome get theirs: their grace is over. */
  async function closeEarlierDays(date: string): Promise<void> {
    if (!unfinished || dateOf(unfinished) === date) return
    const day = unfinished
    unfinished = undefined
    switch (day.kind) {
      case 'claimed-unreadable':
        return failedPastGrace(day.claim.date, day.error, 'the review stayed unreadable past the grace', day.claim)
      case 'posted-unrecorded':
        // The chat has it: posted, whatever the record says (it stays `posting`, and nobody posts that day again).
        o.logger.warn({ date: day.date, attempts: day.result.attempts }, 'digest posted, but its record was never written: the ledger stayed unreachable past the grace')
        o.onOutcome?.('posted', day.date)
        return
      case 'ledger-unreached':
        return failedPastGrace(day.date, day.error, 'the ledger stayed unreachable past the grace')
    }
  }

  /**
   * The day's post, and what it listed as new; `unreadable` when Elasticsearch cannot give the review (or the
   * ledger what earlier digests listed) now but may soon.
   */
  async function renderAndPost(due: { dueMs: number; date: string }, now: number): Promise<{ result: PostResult; listed?: ListedNew } | { unreadable: string }> {
    const { date } = due
    const window = digestWindow(o.zone, o.at, due)
    let rendered: RenderedDigest
    try {
      rendered = await o.render(now, window, await o.ledger.listedBefore(date, now))
    } catch (err) {
      if (isElasticsearchUnavailable(err)) {
        const unreadable = reviewFailureOf(err)
        o.logger.warn({ date, err: { message: unreadable } }, 'digest review unreadable: trying again')
        return { unreadable }
      }
      // A review that will not read as it is (a refused query, a bug) will not read in 30 s either.
      return { result: { ok: false, attempts: 0, error: reviewFailureOf(err), permanent: true } }
    }
    // Posted all the same: the digest says what is missing, and the rest of the review is there.
    o.onResponseTimes?.(rendered.responseTimes.status, date)
    if (rendered.responseTimes.status === 'unavailable') o.logger.warn({ date, error: rendered.responseTimes.error }, 'digest without response times: Prometheus gave none')
    const result = await postWebhook(o.url, digestBody(rendered.markdown), {
      ...(o.policy ? { policy: o.policy } : {}), signal: stopping.signal,
      onRetry: (r) => o.logger.warn({ date, ...r }, 'digest post failed: retrying'),
    })
    return { result, listed: rendered.listed }
  }

  async function run(): Promise<void> {
    const now = clock()
    const { dueMs, date } = nextDigest(o.zone, o.at, now, o.graceMs ?? defaultDigestGraceMs)
    await closeEarlierDays(date)
    if (dueMs > now || date === done) return scheduleNext()
    try {
      const c = await o.ledger.claim(date, owner, now)
      if (unfinished?.kind === 'ledger-unreached') unfinished = undefined
      // Held by another instance (ours lapsed and was taken over) or done: the day is no longer this one's.
      if (c.state !== 'claimed' && unfinished?.kind === 'claimed-unreadable') unfinished = undefined
      if (c.state === 'held') {
        o.logger.info({ date, until: new Date(c.until).toISOString() }, 'digest being posted by another instance: checking again after its lease')
        return schedule(c.until + SECOND)
      }
      if (c.state !== 'claimed') {
        // Our record was written after all, only its answer was lost: the day is ours, posted, and nothing of
        // it is owed any more (left unfinished, the next day's closeEarlierDays would count it posted again).
        if (unfinished?.kind === 'posted-unrecorded') {
          const { result } = unfinished
          unfinished = undefined
          return finished(date, result)
        }
        done = date
        o.onOutcome?.('skipped', date)
        o.logger.info({ date, state: c.state }, 'digest of this date done already')
        return scheduleNext()
      }
      const posted = unfinished?.kind === 'posted-unrecorded' ? unfinished : await renderAndPost({ dueMs, date }, now)
      // Nothing was posted: the claim stays this instance's (renewed at the next try, lapsing if it stops) and
      // the day is tried again within the grace; past it, closeEarlierDays fails it.
      if ('unreadable' in posted) {
        unfinished = { kind: 'claimed-unreadable', claim: c.claim, error: posted.unreadable }
        return schedule(clock() + (o.ledgerRetryMs ?? 30 * SECOND))
      }
      const { result, listed } = posted
      if (unfinished?.kind === 'claimed-unreadable') unfinished = undefined
      if (stopping.signal.aborted && !result.ok) return // a stopping review leaves its claim to lapse: another one takes it over
      if (result.ok && listed) unfinished = { kind: 'posted-unrecorded', date, result, listed }
      // Only a posted digest's list counts: the next one goes by it.
      await o.ledger.finish(c.claim, result.ok ? { state: 'posted', attempts: result.attempts, ...(listed ? { listed } : {}) } : { state: 'failed', attempts: result.attempts, error: result.error }, clock())
      unfinished = undefined
      finished(date, result)
    } catch (err) {
      const error = failureOf(err)
      o.logger.warn({ date, err: { message: error } }, 'digest ledger unreachable: trying again')
      // A post not recorded yet, or a review unreadable, keeps its own outcome past the grace.
      if (!unfinished || unfinished.kind === 'ledger-unreached') unfinished = { kind: 'ledger-unreached', date, error: `digest record not reached: ${error}` }
      schedule(clock() + (o.ledgerRetryMs ?? 30 * SECOND))
    }
  }

  scheduleNext()
  return {
    async stop() {
      stopping.abort()
      clearTimeout(timer)
      await running
    },
    /** Resolves once the run in progress, if any, is over (for tests). */
    idle: () => running,
  }
}
