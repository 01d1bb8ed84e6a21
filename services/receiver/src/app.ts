import express, { type Request, type RequestHandler, type Response } from 'express'
import type { Message } from 'kafkajs'
import type { Logger } from 'pino'
import { normalizeAlertmanager } from '@opsreview/ingest/alertmanager'
import { normalizePingdom } from '@opsreview/ingest/pingdom'
import { normalizeReport } from '@opsreview/ingest/report'
import { eventKey, type AlertEvent, type IngestOptions } from '@opsreview/ingest/event'
import { validateAlertmanagerWebhook, validatePingdomWebhook, validateReport, type Validation } from '@opsreview/schemas'
import { KafkaUnavailableError } from '@opsreview/kafka/errors'
import { tokenAuth } from '@opsreview/http/auth'
import { jsonBody } from '@opsreview/http/body'
import { HttpProblem, problemHandler } from '@opsreview/http/problem'
import { requestContext } from '@opsreview/http/request-context'
import type { SpoolRecord } from '@opsreview/spool'
import { RecentIds } from './recent-ids.ts'
import type { ReceiverMetrics } from './metrics.ts'

/** What the app needs of the Kafka publisher: acknowledged publishing and its health. */
export interface EventPublisher {
  publish(topic: string, messages: Message[]): Promise<void>
  readonly ready: boolean
}

/** What the app needs of the spool: a durable append. */
export interface EventSpool {
  append(records: readonly SpoolRecord[]): Promise<void>
  readonly depth: number
}

export interface ReceiverDeps {
  publisher: EventPublisher
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

/** How long a sender should wait before retrying while Kafka is unavailable. */
const RETRY_AFTER_SECONDS = 5
/** How much of a rejected body goes to the dead-letter topic. */
const DEAD_LETTER_BODY_BYTES = 16 * 1024

export function toMessage(event: AlertEvent): Message {
  return { key: eventKey(event), value: JSON.stringify(event) }
}

/**
 * The receiver as an express app: webhooks in, canonical events on Kafka. Nothing is answered 2xx before
 * it is durable: Alertmanager's events are acknowledged by Kafka first (Alertmanager retries a 503),
 * Pingdom's and people's reports are fsync'ed to the spool first (they do not retry).
 */
export function createReceiverApp(deps: ReceiverDeps): express.Express {
  const { publisher, spool, metrics, clock, topics } = deps
  // Retries come within seconds; repeats hours later must pass (see RecentIds).
  const recent = new RecentIds(50_000, 10 * 60_000)
  const app = express()
  app.disable('x-powered-by')
  app.set('query parser', 'simple')
  app.use(requestContext(deps.logger))

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
  app.get('/readyz', (_req, res) => {
    const ready = publisher.ready
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'kafka unavailable', spoolDepth: spool.depth })
  })
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })

  const auth = tokenAuth(deps.tokens)
  // Pingdom cannot set headers: its token travels in the URL, on its route alone.
  const pingdomAuth = tokenAuth(deps.tokens, { allowQueryToken: true })
  const body = jsonBody(deps.bodyLimit)
  const counted = (source: Source): RequestHandler => (req, res, next) => {
    res.on('finish', () => metrics.requests.inc({ source, status: String(res.statusCode) }))
    res.locals.source = source
    next()
  }

  /** Drops events acknowledged in the last minutes (retried deliveries); later stages dedup by id too. */
  function fresh(source: Source, events: AlertEvent[]): AlertEvent[] {
    const now = clock().getTime()
    const out = events.filter((e) => !recent.has(e.id, now))
    if (out.length < events.length) metrics.duplicates.inc({ source }, events.length - out.length)
    return out
  }

  function validated<T>(req: Request, validation: Validation<T>): T {
    if (!validation.ok) throw new HttpProblem('VALIDATION_FAILED', `${validation.errors.length} field(s) failed validation`, { errors: validation.errors })
    return validation.value
  }

  app.post('/webhooks/alertmanager', counted('alertmanager'), auth, ...body, async (req, res, next) => {
    try {
      const payload = validated(req, validateAlertmanagerWebhook(req.body))
      const { events, truncatedAlerts } = normalizeAlertmanager(payload, { receivedAt: clock(), options: deps.ingest })
      if (truncatedAlerts > 0) {
        metrics.truncated.inc({ receiver: payload.receiver }, truncatedAlerts)
        req.log.warn({ truncatedAlerts, receiver: payload.receiver, groupKey: payload.groupKey }, 'alertmanager dropped alerts (max_alerts); set max_alerts: 0')
      }
      const toSend = fresh('alertmanager', events)
      await publisher.publish(topics.alerts, toSend.map(toMessage))
      for (const e of toSend) recent.add(e.id, clock().getTime())
      metrics.published.inc({ source: 'alertmanager' }, toSend.length)
      res.status(200).json({ accepted: events.length, published: toSend.length, truncatedAlerts })
    } catch (err) {
      next(asProblem(err))
    }
  })

  async function spoolEvents(source: Source, events: AlertEvent[], res: Response) {
    const toSpool = fresh(source, events)
    await spool.append(toSpool.map((e) => ({ topic: topics.alerts, ...stringMessage(toMessage(e)) })))
    for (const e of toSpool) recent.add(e.id, clock().getTime())
    res.status(202).json({ accepted: events.length, ids: events.map((e) => e.id) })
  }

  app.post('/webhooks/pingdom', counted('pingdom'), pingdomAuth, ...body, async (req, res, next) => {
    try {
      const payload = validated(req, validatePingdomWebhook(req.body))
      await spoolEvents('pingdom', [normalizePingdom(payload, { receivedAt: clock(), options: deps.ingest })], res)
    } catch (err) {
      next(asProblem(err))
    }
  })

  app.post('/api/v1/reports', counted('report'), auth, ...body, async (req, res, next) => {
    try {
      const report = validated(req, validateReport(req.body))
      await spoolEvents('report', [normalizeReport(report, { receivedAt: clock(), options: deps.ingest })], res)
    } catch (err) {
      next(asProblem(err))
    }
  })

  app.use((_req, _res, next) => next(new HttpProblem('NOT_FOUND')))

  // Every rejected request is counted and kept on the dead-letter topic, with the reason and (truncated)
  // body, never the token. A failing dead-letter publish must not change the answer.
  app.use(((err, req, res, next) => {
    const problem = err instanceof HttpProblem ? err : undefined
    const source = (res.locals.source as Source | undefined) ?? 'unknown'
    if (problem && problem.status < 500 && problem.status !== 404) {
      const reason = problem.code.toLowerCase()
      metrics.rejections.inc({ source, reason })
      const raw = req.rawBody ?? Buffer.alloc(0)
      const record = {
        reason, status: problem.status, source, path: req.path, requestId: req.id, receivedAt: clock().toISOString(),
        errors: problem.errors, detail: problem.message, bodyBytes: raw.length,
        body: raw.subarray(0, DEAD_LETTER_BODY_BYTES).toString('utf8'), bodyTruncated: raw.length > DEAD_LETTER_BODY_BYTES,
      }
      publisher.publish(topics.rejected, [{ key: source, value: JSON.stringify(record) }])
        .catch((e: unknown) => req.log.warn({ err: e, reason }, 'rejected request could not be dead-lettered'))
    }
    next(err)
  }) as express.ErrorRequestHandler)
  app.use(problemHandler)
  return app
}

function asProblem(err: unknown): unknown {
  if (err instanceof KafkaUnavailableError) {
    return new HttpProblem('UNAVAILABLE', 'Kafka is unavailable; retry later', { retryAfterSeconds: RETRY_AFTER_SECONDS, cause: err })
  }
  return err
}

/** The spool's drain: records go to their topics in order, each call resolving after Kafka acknowledged. */
export function publishSpooled(publisher: EventPublisher): (records: SpoolRecord[]) => Promise<void> {
  return async (records) => {
    const byTopic = new Map<string, Message[]>()
    for (const { topic, key, value } of records) byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key, value }])
    await Promise.all([...byTopic].map(([topic, messages]) => publisher.publish(topic, messages)))
  }
}

function stringMessage(m: Message): { key: string; value: string } {
  return { key: String(m.key), value: String(m.value) }
}
