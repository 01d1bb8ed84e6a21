import { isUtf8 } from 'node:buffer'
import { hash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import express, { type Request, type RequestHandler, type Response } from 'express'
import type { Message } from 'kafkajs'
import type { Logger } from 'pino'
import { eventKey, type AlertEvent, type IngestOptions } from '@opsreview/ingest/event'
import { alertsWebhook, intakeAlertmanager, intakePingdom, intakeReport, singleAlertWebhook, type BodyRejection, type ItemRejection } from '@opsreview/ingest/intake'
import type { FieldError } from '@opsreview/schemas'
import { KafkaRecordRejectedError, KafkaUnavailableError } from '@opsreview/kafka/errors'
import { deadLetterMessage, recordReplay, wholeHead, type DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { tokenAuth } from '@opsreview/http/auth'
import { jsonBody } from '@opsreview/http/body'
import { securityHeaders } from '@opsreview/http/hardening'
import { HttpProblem, problemHandler, sendProblem, toProblem } from '@opsreview/http/problem'
import { requestContext } from '@opsreview/http/request-context'
import { SpoolClosedError, SpoolFullError, SpoolRecordTooLargeError, type SpoolDeadLetter, type SpoolRecord } from '@opsreview/spool'
import { RateLimitedLog } from '@opsreview/logging/rate-limited'
import { RecentIds } from './recent-ids.ts'
import type { ReceiverMetrics } from './metrics.ts'

/** What the app needs of the Kafka publisher: acknowledged publishing and its health. */
export interface EventPublisher {
  /**
   * Resolves once Kafka acknowledged the messages. Rejects with KafkaUnavailableError (retry later) or
   * KafkaRecordRejectedError (Kafka will never take these messages; other callers' are unaffected).
   */
  publish(topic: string, messages: Message[]): Promise<void>
  /**
   * The same per message, never rejecting: one outcome per message once each is settled, undefined for
   * acknowledged, else the KafkaUnavailableError or KafkaRecordRejectedError of that message.
   */
  publishEach(topic: string, messages: Message[]): Promise<(Error | undefined)[]>
  readonly ready: boolean
}

/** What the app needs of the spool: a durable append. */
export interface EventSpool {
  append(records: readonly SpoolRecord[]): Promise<void>
  readonly depth: number
}

export interface ReceiverDeps {
  publisher: EventPublisher
  /**
   * Whether the start-up has set up the topics (`startKafka`): until then the receiver is not ready, even
   * with its producer connected (the spool's drain connects it on demand).
   */
  topicsReady: () => boolean
  spool: EventSpool
  logger: Logger
  metrics: ReceiverMetrics
  clock: () => Date
  tokens: readonly string[]
  bodyLimit: number
  topics: { alerts: string; rejected: string }
  ingest: IngestOptions
}

type Source = 'alertmanager' | 'pingdom' | 'report'

/** A refused alert of an accepted webhook, as the 200 lists it and the dead letter keeps it. */
interface Refusal extends ListedErrors {
  index: number
  reason: string
}

/** How long a sender should wait before retrying while Kafka is unavailable. */
const RETRY_AFTER_SECONDS = 5
/** How much of a body refused as a whole goes to the dead-letter topic. */
const DEAD_LETTER_BODY_BYTES = 16 * 1024
/** A dead letter stays far below Kafka's 1 MiB default message limit: a longer replay body is cut. */
const MAX_DEAD_LETTER_BYTES = 512 * 1024
/** Field errors kept per refused input: enough to act on, bounded whatever the input. */
const MAX_ERRORS_PER_ITEM = 20
/** Characters of an error's path and of its message kept in an answer and a dead letter. */
const MAX_ERROR_TEXT = 512
/**
 * Refused alerts dead-lettered, and listed in the answer, one by one: at most this many, and their letters
 * at most MAX_REFUSED_ALERT_LETTER_BYTES, serialised. Past either the rest share dead letters of up to
 * SHARED_LETTER_BYTES each: a body of tiny broken alerts must not become hundreds of thousands of letters,
 * nor one whose alerts each carry the notification's fields (a 4 KB externalURL) a thousand copies of them,
 * and its good alerts must still be published (Alertmanager never retries a 4xx).
 */
const MAX_REFUSED_ALERTS = 1000
/** The body limit of the routes that take one event (Pingdom, reports), whatever OPSREVIEW_BODY_LIMIT allows a notification. */
const ONE_EVENT_BODY_LIMIT = 1024 * 1024
const MAX_REFUSED_ALERT_LETTER_BYTES = 1024 * 1024
const SHARED_LETTER_BYTES = 256 * 1024
/** What a shared letter grows by besides its alerts as they join: the count and last index in its `error`. */
const SHARED_LETTER_SLACK_BYTES = 256
/** Reason of a dead letter for an event Kafka itself refused (too large for the topic, say). */
const RECORD_TOO_LARGE = 'record-too-large'
/** At most one log line per this many ms for unauthenticated requests; the counter has them all. */
const UNAUTHORIZED_LOG_INTERVAL_MS = 10_000

/** An event's Kafka message; `value` is the event as the intake serialised it to check its size. */
export function toMessage({ event, value }: { event: AlertEvent; value: string }): Message {
  return { key: eventKey(event), value }
}

/**
 * What makes a dead letter of refused alerts the same on a retried notification: its reason and the
 * alerts it replays, not the request id or the time it carries.
 */
function deadLetterId(envelope: DeadLetterEnvelope): string | undefined {
  if (envelope.replay?.kind !== 'webhook') return undefined
  return `dead-letter:${hash('sha256', `${envelope.reason}\u0000${envelope.replay.path}\u0000${envelope.replay.body}`)}`
}

/**
 * The receiver as an express app: webhooks in, canonical events on Kafka. Every event is validated
 * against alert.v1.json, the time bounds and the size caps before it is acknowledged. Nothing is
 * answered 2xx before it is durable: Alertmanager's events (and the dead letters of its refused alerts)
 * are acknowledged by Kafka first (Alertmanager retries a 503), Pingdom's and people's reports are
 * fsync'ed to the spool first (they do not retry).
 */
export function createReceiverApp(deps: ReceiverDeps): express.Express {
  const { publisher, spool, metrics, clock, topics } = deps
  // Event ids and dead-letter ids acknowledged lately. Retries come within seconds; repeats hours later
  // must pass (see RecentIds).
  const recent = new RecentIds(100_000, 10 * 60_000)
  const unauthorizedLog = new RateLimitedLog(UNAUTHORIZED_LOG_INTERVAL_MS, () => performance.now())
  const app = express()
  app.disable('x-powered-by')
  // Answers to webhooks are never cached or compared: hashing each body for an ETag is wasted work.
  app.set('etag', false)
  app.set('query parser', 'simple')
  app.use(securityHeaders())
  app.use(requestContext(deps.logger))

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
  app.get('/readyz', (_req, res) => {
    const status = !deps.topicsReady() ? 'kafka topics not set up' : publisher.ready ? 'ready' : 'kafka unavailable'
    res.status(status === 'ready' ? 200 : 503).json({ status, spoolDepth: spool.depth })
  })
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })

  const auth = tokenAuth(deps.tokens)
  // Pingdom cannot set headers: its token travels in the URL, on its route alone.
  const pingdomAuth = tokenAuth(deps.tokens, { allowQueryToken: true })
  const body = jsonBody(deps.bodyLimit)
  // A Pingdom message or a report is one event of at most 128 KiB: the limit sized for a storm's notification
  // would only let a malformed one cost hundreds of megabytes to parse and validate.
  const oneEventBody = jsonBody(Math.min(deps.bodyLimit, ONE_EVENT_BODY_LIMIT))
  const counted = (source: Source): RequestHandler => (req, res, next) => {
    res.on('finish', () => metrics.requests.inc({ source, status: String(res.statusCode) }))
    res.locals.source = source
    next()
  }

  // Events being published or spooled right now, by id: a copy arriving meanwhile (a retry racing the
  // original, the same alert twice in one notification) waits for the first instead of writing again.
  // An entry is the first copy's call and its place in it, not a promise of its own per event.
  type InFlight = { sending: Promise<(Error | undefined)[]>; index: number }
  const inFlight = new Map<string, InFlight>()
  // The same for the dead letters of refused alerts, by dead-letter id.
  const deadLettersInFlight = new Map<string, Promise<void>>()

  /**
   * Sends each event once: an event acknowledged in the last minutes (a retried delivery) is not sent
   * again, one in flight is waited for, the rest go through one `send` call for the whole request, which
   * answers per event. Each result says whether this call sent it (true) or found it sent (false); a
   * failure of the first is every copy's. Later stages dedup by id too.
   */
  async function sendOnce(source: Source, events: readonly { event: AlertEvent; value: string }[], send: (fresh: { event: AlertEvent; value: string }[]) => Promise<(Error | undefined)[]>): Promise<PromiseSettledResult<boolean>[]> {
    const now = clock().getTime()
    const results: PromiseSettledResult<boolean>[] = new Array(events.length)
    const fresh: { event: AlertEvent; value: string }[] = []
    const freshAt: number[] = []
    const waiting: { at: number; entry: InFlight }[] = []
    // A copy later in this same request waits for the first, like a copy in another request.
    const firstHere = new Map<string, number>()
    const copiesHere: { at: number; index: number }[] = []
    events.forEach((e, at) => {
      const id = e.event.id
      if (recent.has(id, now)) { results[at] = { status: 'fulfilled', value: false }; return }
      const running = inFlight.get(id)
      if (running) { waiting.push({ at, entry: running }); return }
      const first = firstHere.get(id)
      if (first !== undefined) { copiesHere.push({ at, index: first }); return }
      firstHere.set(id, fresh.length)
      fresh.push(e)
      freshAt.push(at)
    })
    if (fresh.length > 0) {
      const sending = send(fresh)
      fresh.forEach((e, index) => inFlight.set(e.event.id, { sending, index }))
      for (const { at, index } of copiesHere) waiting.push({ at, entry: { sending, index } })
      let outcomes: (Error | undefined)[]
      try {
        outcomes = await sending
      } finally {
        for (const e of fresh) inFlight.delete(e.event.id)
      }
      const acknowledgedAt = clock().getTime()
      outcomes.forEach((err, index) => {
        if (err === undefined) recent.add(fresh[index]!.event.id, acknowledgedAt)
        results[freshAt[index]!] = err === undefined ? { status: 'fulfilled', value: true } : { status: 'rejected', reason: err }
      })
    }
    for (const { at, entry } of waiting) {
      try {
        const err = (await entry.sending)[entry.index]
        results[at] = err === undefined ? { status: 'fulfilled', value: false } : { status: 'rejected', reason: err }
      } catch (reason) {
        results[at] = { status: 'rejected', reason }
      }
    }
    const duplicates = results.filter((r) => r.status === 'fulfilled' && !r.value).length
    if (duplicates > 0) metrics.duplicates.inc({ source }, duplicates)
    return results
  }

  /** A body refused as a whole: a 400 naming the fields; the error handler dead-letters it with this reason. */
  function refuseBody(res: Response, rejection: BodyRejection): HttpProblem {
    res.locals.deadLetterReason = rejection.reason
    return new HttpProblem('VALIDATION_FAILED', `${rejection.errors.length} field(s) failed validation`, listedErrors(rejection.errors))
  }

  /**
   * The refused alerts past those dead-lettered one by one, in dead letters of up to SHARED_LETTER_BYTES
   * each, as serialised: an alert is in its letter twice, as its index in `detail.indexes` and as its JSON
   * escaped again in the replay body, and a tiny alert (`1`) costs more as an index than as itself. Each
   * letter replays whole as one notification of its alerts; only an alert too large for a letter of its own
   * goes without a replay, as its per-alert letter would (fitDeadLetter).
   */
  function sharedLetters(req: Request, payload: Readonly<Record<string, unknown>>, surplus: readonly ItemRejection[], receivedAt: Date): { key: string; envelope: DeadLetterEnvelope }[] {
    const alerts = payload.alerts as unknown[]
    // Its alerts share its reason (below): the reason and `indexes` say how many of each.
    const letterOf = (chunk: readonly ItemRejection[]): { key: string; envelope: DeadLetterEnvelope } => {
      const first = chunk[0]!
      return {
        key: req.id,
        envelope: {
          stage: 'receiver',
          reason: first.reason,
          error: `${chunk.length} alerts refused (alerts ${first.index}–${chunk.at(-1)!.index}); the first: ${wholeHead(first.errors.map((e) => `${e.path} ${e.message}`).join('; '), 1000)}`,
          at: receivedAt.toISOString(),
          detail: { source: 'alertmanager', requestId: req.id, indexes: chunk.map((r) => r.index), ...listedErrors(first.errors) },
          replay: { kind: 'webhook', path: req.path, body: JSON.stringify(alertsWebhook(payload, chunk.map((r) => r.index))) },
        },
      }
    }
    const letters: { key: string; envelope: DeadLetterEnvelope }[] = []
    let chunk: ItemRejection[] = []
    let bytes = 0
    const close = () => { if (chunk.length > 0) letters.push(letterOf(chunk)) }
    // A letter's alerts share its reason: `--reason` selects, and the listing counts, by the letter's (until
    // 2026-12-06 a letter took its first alert's reason for all, and a replay by another missed the rest).
    const byReason = new Map<string, ItemRejection[]>()
    for (const r of surplus) {
      const group = byReason.get(r.reason)
      if (group) group.push(r)
      else byReason.set(r.reason, [r])
    }
    for (const group of byReason.values()) {
      for (const r of group) {
        const size = sharedAlertBytes(alerts[r.index], r.index)
        if (chunk.length > 0 && bytes + size <= SHARED_LETTER_BYTES) {
          chunk.push(r)
          bytes += size
          continue
        }
        close()
        chunk = [r]
        // Measured whole once per letter: the notification's fields and the first alert's errors are its fixed part.
        bytes = Buffer.byteLength(JSON.stringify(letterOf(chunk).envelope)) + SHARED_LETTER_SLACK_BYTES
      }
      close()
      chunk = []
    }
    return letters
  }

  /**
   * Publishes dead letters one message per call, so that a letter Kafka refuses (too large after all)
   * fails alone; a refused one is sent again in smaller forms (smallerDeadLetters). Resolves once Kafka
   * acknowledged every letter or refused every form of one; rejects with KafkaUnavailableError if Kafka
   * did not answer.
   */
  async function publishDeadLetters(req: Request, letters: { key: string; envelope: DeadLetterEnvelope }[], { once = false } = {}): Promise<void> {
    const send = async ({ key, envelope }: { key: string; envelope: DeadLetterEnvelope }) => {
      let refusal: KafkaRecordRejectedError | undefined
      for (const form of smallerDeadLetters(envelope)) {
        try {
          await publisher.publish(topics.rejected, [deadLetterMessage(key, form(refusal?.message ?? ''))])
          metrics.deadLetters.inc({ stage: 'receiver', reason: envelope.reason })
          return
        } catch (err) {
          if (!(err instanceof KafkaRecordRejectedError)) throw err
          refusal = err
        }
      }
      // No retry can change Kafka's answer: a 5xx would have the sender retry for ever, its good alerts
      // published already, so the answer stands and the letter is lost loudly.
      req.log.error({ err: refusal, reason: envelope.reason, error: envelope.error }, 'kafka refused every form of a dead letter: it is lost')
    }
    // Alike letters of one notification (alike alerts refused alike) are each their own alert's letter, and
    // are sent together; a copy of the notification in another request waits for them, as events do.
    const sendAlikeOnce = async (id: string, alike: { key: string; envelope: DeadLetterEnvelope }[]) => {
      if (recent.has(id, clock().getTime())) return
      const running = deadLettersInFlight.get(id)
      if (running) return running
      const sending = Promise.all(alike.map(send)).then(() => undefined)
      deadLettersInFlight.set(id, sending)
      try {
        await sending
      } finally {
        deadLettersInFlight.delete(id)
      }
      recent.add(id, clock().getTime())
    }
    const sends: Promise<void>[] = []
    const byId = new Map<string, { key: string; envelope: DeadLetterEnvelope }[]>()
    for (const letter of letters) {
      // `once`: the refused alerts of an Alertmanager notification, which Alertmanager sends again after a
      // 503 for its good alerts; they were dead-lettered on the first try. Not a whole request refused: two
      // different bodies refused unread (a 413, a 415) would have the same empty replay.
      const id = once ? deadLetterId(letter.envelope) : undefined
      const alike = id === undefined ? undefined : byId.get(id)
      if (id === undefined) sends.push(send(letter))
      else if (alike) alike.push(letter)
      else byId.set(id, [letter])
    }
    for (const [id, alike] of byId) sends.push(sendAlikeOnce(id, alike))
    const results = await Promise.allSettled(sends)
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) {
      req.log.warn({ err: failed.reason, deadLetters: letters.length }, 'dead letters not acknowledged by kafka')
      throw failed.reason
    }
  }

  app.post('/webhooks/alertmanager', counted('alertmanager'), auth, ...body, async (req, res, next) => {
    try {
      const receivedAt = clock()
      const intake = intakeAlertmanager(req.body, { receivedAt, options: deps.ingest })
      if (!intake.ok) throw refuseBody(res, intake)
      const { payload, accepted, rejected, truncatedAlerts } = intake
      if (truncatedAlerts > 0) {
        metrics.truncated.inc(truncatedAlerts)
        req.log.warn({ truncatedAlerts, receiver: payload.receiver, groupKey: payload.groupKey.slice(0, 256) }, 'alertmanager dropped alerts (max_alerts); set max_alerts: 0')
      }
      const letterFor = (r: Refusal): { key: string; envelope: DeadLetterEnvelope } => ({
        key: req.id,
        envelope: {
          stage: 'receiver',
          reason: r.reason,
          error: `alert ${r.index} refused: ${wholeHead(r.errors.map((e) => `${e.path} ${e.message}`).join('; '), 1000)}`,
          at: receivedAt.toISOString(),
          detail: { source: 'alertmanager', requestId: req.id, index: r.index, errors: r.errors, errorsOmitted: r.errorsOmitted },
          replay: { kind: 'webhook', path: req.path, body: JSON.stringify(singleAlertWebhook(payload, r.index)) },
        },
      })
      const refusals: Refusal[] = []
      const ownLetters: { key: string; envelope: DeadLetterEnvelope }[] = []
      let ownLetterBytes = 0
      for (const r of rejected) {
        if (refusals.length === MAX_REFUSED_ALERTS) break
        const refusal: Refusal = { index: r.index, reason: r.reason, ...listedErrors(r.errors) }
        const letter = letterFor(refusal)
        // As publishDeadLetters first sends it: cut to MAX_DEAD_LETTER_BYTES, which the first letter always fits.
        const bytes = Math.min(Buffer.byteLength(JSON.stringify(letter.envelope)), MAX_DEAD_LETTER_BYTES)
        if (ownLetterBytes + bytes > MAX_REFUSED_ALERT_LETTER_BYTES) break
        ownLetterBytes += bytes
        refusals.push(refusal)
        ownLetters.push(letter)
      }
      const surplus = rejected.slice(refusals.length)
      const shared = sharedLetters(req, payload, surplus, receivedAt)
      // Outcomes per event: a record Kafka refuses fails alone, and is refused alone.
      const [sent, letters] = await Promise.all([
        sendOnce('alertmanager', accepted, (fresh) => publisher.publishEach(topics.alerts, fresh.map(toMessage))),
        Promise.allSettled([publishDeadLetters(req, [...ownLetters, ...shared], { once: true })]),
      ])
      let unavailable: unknown = letters[0].status === 'rejected' ? letters[0].reason : undefined
      const tooLarge: Refusal[] = []
      let published = 0
      sent.forEach((result, i) => {
        const { index } = accepted[i]!
        if (result.status === 'fulfilled') {
          if (result.value) published++
        } else if (result.reason instanceof KafkaRecordRejectedError) {
          tooLarge.push({ index, reason: RECORD_TOO_LARGE, errors: [{ path: `/alerts/${index}`, message: `Kafka refused the event: ${result.reason.message}` }] })
        } else {
          unavailable ??= result.reason
        }
      })
      if (tooLarge.length > 0) {
        req.log.warn({ alerts: tooLarge.map((r) => r.index) }, 'kafka refused events; dead-lettering them')
        await publishDeadLetters(req, tooLarge.map(letterFor), { once: true }).catch((err: unknown) => { unavailable ??= err })
      }
      // Events already acknowledged stay published; Alertmanager's retry finds them in RecentIds.
      if (unavailable !== undefined) throw unavailable
      const allRefused = [...refusals, ...tooLarge].sort((a, b) => a.index - b.index)
      for (const r of [...allRefused, ...surplus]) metrics.rejectedEvents.inc({ source: 'alertmanager', reason: r.reason })
      if (allRefused.length > 0) req.log.info({ refused: allRefused.length, reasons: [...new Set(allRefused.map((r) => r.reason))] }, 'alerts refused and dead-lettered')
      metrics.published.inc({ source: 'alertmanager' }, published)
      const answer = {
        accepted: accepted.length - tooLarge.length,
        published,
        truncatedAlerts,
        rejected: allRefused,
        rejectedTotal: rejected.length + tooLarge.length,
      }
      if (answer.accepted === 0 && answer.rejectedTotal > 0) {
        // Nothing of it could be used: a 4xx naming the failing fields, which Alertmanager counts as a
        // failed notification (and, rightly, never retries). Each refused alert is dead-lettered already.
        // Listed from every alert's own errors, not the lists cut per alert: `errorsOmitted` counts them all.
        const errors = [...rejected, ...tooLarge].sort((a, b) => a.index - b.index).flatMap((r) => r.errors)
        sendProblem(res, new HttpProblem('ALERTS_REFUSED', `${answer.rejectedTotal} alert(s) refused, none accepted; each is dead-lettered`, listedErrors(errors)), answer)
        return
      }
      res.status(200).json(answer)
    } catch (err) {
      next(asProblem(err))
    }
  })

  async function spoolEvents(source: Source, events: { event: AlertEvent; value: string }[], res: Response) {
    const results = await sendOnce(source, events, async (fresh) => {
      // The spool's append is all or nothing: its failure is every event's.
      try {
        await spool.append(fresh.map((e) => ({ topic: topics.alerts, key: eventKey(e.event), value: e.value })))
        return fresh.map(() => undefined)
      } catch (err) {
        return fresh.map(() => err as Error)
      }
    })
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    res.status(202).json({ accepted: events.length, ids: events.map((e) => e.event.id) })
  }

  app.post('/webhooks/pingdom', counted('pingdom'), pingdomAuth, ...oneEventBody, async (req, res, next) => {
    try {
      const intake = intakePingdom(req.body, { receivedAt: clock(), options: deps.ingest })
      if (!intake.ok) throw refuseBody(res, intake)
      await spoolEvents('pingdom', [intake], res)
    } catch (err) {
      next(asProblem(err))
    }
  })

  app.post('/api/v1/reports', counted('report'), auth, ...oneEventBody, async (req, res, next) => {
    try {
      const intake = intakeReport(req.body, { receivedAt: clock(), options: deps.ingest })
      if (!intake.ok) throw refuseBody(res, intake)
      await spoolEvents('report', [intake], res)
    } catch (err) {
      next(asProblem(err))
    }
  })

  app.use((_req, _res, next) => next(new HttpProblem('NOT_FOUND')))

  // A request refused as a whole is counted and kept on the dead-letter topic, with the reason and
  // (truncated) body, never the token. A failing dead-letter publish must not change the answer.
  // A 401 is only counted and logged at a bounded rate: unauthenticated traffic must not fill Kafka.
  app.use(((err, req, res, next) => {
    const problem = toProblem(err)
    const source = (res.locals.source as Source | undefined) ?? 'unknown'
    if (problem.status === 401) {
      metrics.unauthorized.inc({ source })
      unauthorizedLog.maybe('unauthorized', (suppressed) => req.log.warn({ source, path: req.path.slice(0, 200), suppressedSinceLast: suppressed }, 'unauthorized request'))
      // requestContext logs every 4xx at info when the response finishes; for 401s that is unbounded.
      req.log = req.log.child({}, { level: 'warn' })
    } else if (problem.status < 500 && problem.status !== 404 && source !== 'unknown') {
      const reason = (res.locals.deadLetterReason as string | undefined) ?? problem.code.toLowerCase().replaceAll('_', '-')
      metrics.rejections.inc({ source, reason })
      const raw = req.rawBody ?? Buffer.alloc(0)
      // A body refused unread (a 413, a 415) leaves nothing to keep: its declared size at least says how
      // far OPSREVIEW_BODY_LIMIT falls short.
      const contentLength = req.rawBody === undefined ? Number(req.headers['content-length']) : NaN
      // Whole, and text as sent: a body of bytes that are not UTF-8 came back from its replay as U+FFFD, and
      // was taken so, changed.
      const whole = raw.length > 0 && raw.length <= DEAD_LETTER_BODY_BYTES && isUtf8(raw)
      const envelope: DeadLetterEnvelope = {
        stage: 'receiver',
        reason,
        error: wholeHead(problem.message, 1000),
        at: clock().toISOString(),
        detail: {
          source, status: problem.status, requestId: req.id, errors: problem.errors ?? [], errorsOmitted: problem.errorsOmitted,
          bodyBytes: raw.length, bodyTruncated: raw.length > DEAD_LETTER_BODY_BYTES,
          ...(Number.isSafeInteger(contentLength) ? { contentLength } : {}),
          // A body cut or never read cannot be sent again: its head is kept to be read, not as a replay
          // (until 2026-12-06 it was one, which failed as invalid JSON and left a letter of another reason).
          // Up to the last whole character: a cut inside one would end the head with U+FFFD.
          ...(whole || raw.length === 0 ? {} : { bodyHead: new StringDecoder('utf8').write(raw.subarray(0, DEAD_LETTER_BODY_BYTES)) }),
        },
        ...(whole ? { replay: { kind: 'webhook', path: req.path, body: raw.toString('utf8') } } : {}),
      }
      publishDeadLetters(req, [{ key: source, envelope }]).catch(() => undefined)
    }
    next(problem)
  }) as express.ErrorRequestHandler)
  app.use(problemHandler)
  return app
}

function asProblem(err: unknown): unknown {
  // A closing spool (shutdown): the next instance takes it. Pingdom does not retry, but a 503 says so.
  if (err instanceof KafkaUnavailableError || err instanceof SpoolClosedError) {
    return new HttpProblem('UNAVAILABLE', err instanceof SpoolClosedError ? 'The receiver is shutting down; retry later' : 'Kafka is unavailable; retry later', { retryAfterSeconds: RETRY_AFTER_SECONDS, cause: err })
  }
  // Kafka has been away long enough to fill the spool to OPSREVIEW_SPOOL_MAX_BYTES: the drain makes room as
  // Kafka comes back, and the sender's retry may fit then.
  if (err instanceof SpoolFullError) {
    return new HttpProblem('UNAVAILABLE', 'The receiver\'s spool is full while Kafka is away (OPSREVIEW_SPOOL_MAX_BYTES); retry later', { retryAfterSeconds: RETRY_AFTER_SECONDS, cause: err })
  }
  // The spool's disk is full or failing (ENOSPC, EIO, EROFS): nothing was kept, and the sender's retry may
  // find room. A 503 says so, as for Kafka; a 500 would say the receiver is broken.
  if (isSystemError(err)) {
    return new HttpProblem('UNAVAILABLE', `The receiver cannot keep the events now (${err.code}); retry later`, { retryAfterSeconds: RETRY_AFTER_SECONDS, cause: err })
  }
  // Unreachable with the event cap (128 KiB against the spool's limit), refused all the same, never a 500.
  if (err instanceof SpoolRecordTooLargeError) {
    return new HttpProblem('PAYLOAD_TOO_LARGE', err.message, { cause: err, errors: [{ path: '/', message: `the event is ${err.bytes} bytes, more than the spool takes (${err.maxRecordBytes})` }] })
  }
  return err
}

/** An error of the operating system (Node sets `syscall` and a code such as ENOSPC on those). */
function isSystemError(err: unknown): err is Error & { code: string; syscall: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && typeof (err as { syscall?: unknown }).syscall === 'string'
}

/** Field errors as answers and dead letters list them: the first MAX_ERRORS_PER_ITEM, and how many more failed (as `deadLetterMessage` counts them). */
interface ListedErrors {
  errors: FieldError[]
  errorsOmitted?: number
}

function listedErrors(errors: readonly FieldError[]): ListedErrors {
  // A field's name is the sender's: one of 600,000 '/' has a JSON Pointer over 1 MB, and quoted whole the
  // dead letter is more than Kafka takes (a 500 for bad input) and the answer more than anyone reads.
  const listed = errors.slice(0, MAX_ERRORS_PER_ITEM).map((e) => ({ path: cut(e.path, MAX_ERROR_TEXT), message: cut(e.message, MAX_ERROR_TEXT) }))
  return errors.length > MAX_ERRORS_PER_ITEM ? { errors: listed, errorsOmitted: errors.length - MAX_ERRORS_PER_ITEM } : { errors: listed }
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${wholeHead(text, max)}… (${text.length} characters)`
}

/**
 * What one more alert adds to a shared letter, serialised: its JSON escaped into the replay body's string
 * and a comma, its index in `detail.indexes` and a comma.
 */
function sharedAlertBytes(alert: unknown, index: number): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(alert ?? null))) - 2 + 1 + String(index).length + 1
}

/**
 * A dead letter in ever smaller forms, each given why Kafka refused the one before: cut to
 * MAX_DEAD_LETTER_BYTES; without its replay body; and without the detail but the scalars that say whose
 * it is (source, request id, index), for a topic whose limit is far below what the receiver assumes. The
 * last is a few KB whatever the input (each `error` is cut where it is made), and its `error` still names
 * the alerts.
 */
function smallerDeadLetters(envelope: DeadLetterEnvelope): ((refusal: string) => DeadLetterEnvelope)[] {
  const { replay, ...slim } = envelope
  // A letter without a replay has none to drop: only its detail is left to drop.
  const dropped = (refusal: string) => (replay ? { replayDropped: refusal } : { refused: refusal })
  return [
    () => fitDeadLetter(envelope),
    ...(replay ? [(refusal: string) => ({ ...slim, detail: { ...slim.detail, replayDropped: refusal } })] : []),
    (refusal) => ({ ...slim, detail: { ...scalarsOf(slim.detail ?? {}), ...dropped(refusal), detailDropped: true } }),
  ]
}

function scalarsOf(detail: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(detail).filter(([, v]) => typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 256)))
}

/**
 * The envelope as it is when it fits a Kafka message with room to spare; else without its replay, whose
 * body, cut until it fits, is kept as `detail.bodyHead` to be read: a cut body is no request to send again.
 */
function fitDeadLetter(envelope: DeadLetterEnvelope): DeadLetterEnvelope {
  const fits = (e: DeadLetterEnvelope) => Buffer.byteLength(JSON.stringify(e)) <= MAX_DEAD_LETTER_BYTES
  if (fits(envelope) || envelope.replay?.kind !== 'webhook') return envelope
  const { replay, ...rest } = envelope
  let head = replay.body
  let current: DeadLetterEnvelope
  do {
    // Never between the halves of a surrogate pair (wholeHead): a lone one is no text, and the head would no
    // longer be the start of the body.
    head = wholeHead(head, Math.floor(head.length / 2))
    current = { ...rest, detail: { ...rest.detail, bodyTruncated: true, bodyHead: head } }
  } while (!fits(current) && head.length > 0)
  return current
}

/**
 * The spool's drain: records go in order to the alerts topic configured now, each call resolving after
 * Kafka acknowledged. The spool holds alert events only; the topic a record names is the one configured
 * when it was written, and one renamed or deleted since never takes it: the drain waited on it for ever,
 * every later report behind it.
 */
export function publishSpooled(publisher: EventPublisher, alertsTopic: string, metrics: ReceiverMetrics): (records: SpoolRecord[]) => Promise<void> {
  // Counted once Kafka has them, as the Alertmanager route counts its own; the key names the source.
  const count = (records: readonly SpoolRecord[]) => {
    const bySource = new Map<string, number>()
    for (const { key } of records) {
      const source = spooledSource(key)
      bySource.set(source, (bySource.get(source) ?? 0) + 1)
    }
    for (const [source, n] of bySource) metrics.published.inc({ source }, n)
  }
  return async (records) => {
    try {
      await publisher.publish(alertsTopic, records.map(({ key, value }): Message => ({ key, value })))
    } catch (err) {
      // The others were acknowledged, and the spool does not send them again: counted now.
      if (err instanceof KafkaRecordRejectedError && err.refused) {
        const refused = new Set(err.refused.map((r) => r.index))
        count(records.filter((_, i) => !refused.has(i)))
      }
      throw err
    }
    count(records)
  }
}

/** The source of a spooled record, from its key (`eventKey`: `source:fingerprint`); a key of no known source is `unknown`. */
function spooledSource(key: string | null): string {
  const source = key?.slice(0, key.indexOf(':'))
  return source === 'pingdom' || source === 'report' ? source : 'unknown'
}

/**
 * Where the spool's drain puts a record Kafka will never take, or a line that is not a record: the
 * receiver's dead-letter topic, as an envelope that replays the record as it was. A refusal of the
 * dead letter itself (the record is too large for any topic) rejects with KafkaRecordRejectedError, and
 * the spool then keeps it whole in its own dead-letters file.
 */
export function spoolDeadLetter(publisher: EventPublisher, topic: string, metrics: ReceiverMetrics, clock: () => Date): SpoolDeadLetter {
  return async (record, reason) => {
    const envelope: DeadLetterEnvelope = {
      stage: 'receiver',
      reason: reason.code,
      error: wholeHead(reason.error, 1000),
      at: clock().toISOString(),
      detail: { spool: { segment: reason.segment, offset: reason.offset }, ...(reason.raw === undefined ? {} : { raw: reason.raw }) },
    }
    if (record) envelope.replay = recordReplay(record.topic, record)
    await publisher.publish(topic, [deadLetterMessage(record?.key ?? 'spool', envelope)])
    metrics.deadLetters.inc({ stage: 'receiver', reason: reason.code })
  }
}
