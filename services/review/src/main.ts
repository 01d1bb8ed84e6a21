// Wires the review service: config, logger, Elasticsearch, the commands publisher, the decisions read back,
// the dead-letter count, the app.
import { once } from 'node:events'
import { Client } from '@elastic/elasticsearch'
import { Kafka, Partitioners } from 'kafkajs'
import { createLogger } from '@opsreview/logging'
import { guardStartup, shutdownOnSignals } from '@opsreview/lifecycle'
import { hardenServer, closeServer } from '@opsreview/http/hardening'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { ensureTopics, topicReplicationOf } from '@opsreview/kafka/topics'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { DecisionLog } from '@opsreview/review/decisions'
import { defaultDigestGraceMs, defaultRetryPolicy, digestMarkdown, elasticsearchDigestLedger, startDigestScheduler } from '@opsreview/review/digest'
import { ensureIndices, indexNames } from '@opsreview/search-index/templates'
import { elasticsearchConnectionOptions } from '@opsreview/search-index/connection'
import { degradedRuleOf } from '@opsreview/review/degraded'
import { responseTimeSourceOf } from '@opsreview/review/response-times'
import { loadReviewConfig, scopeDefaultsOf } from './config.ts'
import { createReviewApp, defaultIdempotencyLimits, defaultPublicDir } from './app.ts'
import { createReviewMetrics } from './metrics.ts'
import { elasticsearchTimeouts, reviewServerTimeouts } from './timeouts.ts'
import { startDecisionConsumer } from './decisions-consumer.ts'

const config = loadReviewConfig(process.env)
const logger = createLogger('review', config.OPSREVIEW_LOG_LEVEL)
guardStartup(logger)
const es = new Client({ ...elasticsearchConnectionOptions(config), ...elasticsearchTimeouts })
const kafka = new Kafka({
  clientId: 'opsreview-review', ...kafkaConnectionOptions(config),
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL), logCreator: pinoLogCreator(logger),
  retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
})

// The review reads what the indexer writes; creating the indices here lets it start first.
await ensureIndices(es, config.OPSREVIEW_ES_INDEX_PREFIX)
// One admin for the service's life: the dead-letter count asks it for offsets.
const admin = kafka.admin()
await admin.connect()
await ensureTopics(admin, [{ topic: config.OPSREVIEW_TOPIC_COMMANDS, numPartitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * 86_400_000 }], topicReplicationOf(config))
// The publisher makes its producer itself, so it can replace one that a refused record left with broken
// sequence numbers (see BatchPublisher's createProducer). It keeps order: a decision whose caller was told
// it failed must not land after a later one, which the correlator would then overrule.
const commands = new BatchPublisher({
  createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 3 } }),
  logger: logger.child({ component: 'commands' }),
  keepOrder: true,
})
await commands.connect()
const responseTimes = responseTimeSourceOf(config)
const metrics = createReviewMetrics({ breakerState: () => commands.breakerState }, {
  responseTimeReads: responseTimes === undefined ? [] : ['review', 'lookback', ...(config.OPSREVIEW_DIGEST_WEBHOOK_URL === null ? [] : ['digest' as const])],
  digestPosts: config.OPSREVIEW_DIGEST_WEBHOOK_URL !== null,
})

// The decisions read back (commands and the correlator's results): outcomes, ?wait=true, timelines.
const decisions = new DecisionLog()
const decisionReader = startDecisionConsumer(kafka, { commands: config.OPSREVIEW_TOPIC_COMMANDS, results: config.OPSREVIEW_TOPIC_COMMAND_RESULTS }, decisions, logger.child({ component: 'decisions' }))

const DEAD_LETTER_WINDOW_MS = 24 * 3_600_000
const deadLetters = cachedDeadLetterCount(
  (now) => countDeadLetters(admin, config.OPSREVIEW_DEAD_LETTER_TOPICS, now, DEAD_LETTER_WINDOW_MS),
  { ttlMs: config.OPSREVIEW_DEAD_LETTER_CACHE, timeoutMs: 5_000, clock: () => Date.now() },
)

const app = createReviewApp({
  es, commands, commandsTopic: config.OPSREVIEW_TOPIC_COMMANDS, logger, clock: () => new Date(),
  readTokens: config.OPSREVIEW_READ_TOKENS, writeTokens: config.OPSREVIEW_WRITE_TOKENS,
  indexPrefix: config.OPSREVIEW_ES_INDEX_PREFIX, waitTimeoutMs: config.OPSREVIEW_WAIT_TIMEOUT, publicDir: defaultPublicDir, deadLetters,
  idempotency: { ...defaultIdempotencyLimits, ttlMs: config.OPSREVIEW_IDEMPOTENCY_TTL, maxKeys: config.OPSREVIEW_IDEMPOTENCY_MAX_KEYS },
  decisions, ...(config.OPSREVIEW_RECEIVER_TOKEN ? { reports: { url: config.OPSREVIEW_RECEIVER_URL, token: config.OPSREVIEW_RECEIVER_TOKEN, timeoutMs: 10_000 } } : {}),
  metrics, timeZone: config.OPSREVIEW_TIMEZONE, degradedRule: degradedRuleOf(config), scope: scopeDefaultsOf(config),
  responseTimes,
})
const server = app.listen(config.OPSREVIEW_REVIEW_PORT, config.OPSREVIEW_REVIEW_HOST)
hardenServer(server, reviewServerTimeouts(config.OPSREVIEW_WAIT_TIMEOUT))
await once(server, 'listening')
logger.info({ url: `http://${config.OPSREVIEW_REVIEW_HOST}:${config.OPSREVIEW_REVIEW_PORT}` }, 'review listening')

// The morning digest, once per local day across instances and restarts: a document per local date in
// <prefix>-review-digests, created with op_type=create, decides who posts (docs/review.md).
const digestUrl = config.OPSREVIEW_DIGEST_WEBHOOK_URL
const digest = digestUrl === null ? undefined : await (async () => {
  const names = indexNames(config.OPSREVIEW_ES_INDEX_PREFIX)
  const indices = { alerts: names.alerts.alias, incidents: names.incidents.alias, problems: names.problems.alias }
  // The lease outlasts every retry of one post (at most about 4 minutes), and stays inside the grace, so a take-over still posts.
  const ledger = elasticsearchDigestLedger(es, `${config.OPSREVIEW_ES_INDEX_PREFIX}-review-digests`, 15 * 60_000)
  await ledger.ensure()
  const digestLogger = logger.child({ component: 'digest' })
  digestLogger.info({ at: config.OPSREVIEW_DIGEST_AT, zone: config.OPSREVIEW_TIMEZONE }, 'morning digest scheduled')
  return startDigestScheduler({
    url: digestUrl.href, zone: config.OPSREVIEW_TIMEZONE, at: config.OPSREVIEW_DIGEST_AT, ledger, logger: digestLogger,
    render: (now, window, earlier) => digestMarkdown(es, indices, { zone: config.OPSREVIEW_TIMEZONE, scope: scopeDefaultsOf(config), degradedRule: degradedRuleOf(config), responseTimes }, now, window, earlier),
    policy: defaultRetryPolicy, graceMs: defaultDigestGraceMs, leaseMs: 15 * 60_000, onOutcome: (o) => metrics.digest(o),
    onResponseTimes: (status) => metrics.responseTimesRead('digest', status),
  })
})()

shutdownOnSignals(logger, 'finishing in-flight requests', async () => {
  // A decision may wait for its outcome up to OPSREVIEW_WAIT_TIMEOUT: let it answer.
  await closeServer(server, config.OPSREVIEW_WAIT_TIMEOUT + 5_000)
  await digest?.stop()
  await commands.close()
  await decisionReader.stop()
  await admin.disconnect()
  await es.close()
})
