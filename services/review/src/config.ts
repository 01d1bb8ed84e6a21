import { parseTokenEntries, type BearerToken } from '@opsreview/http/auth'
import { elasticsearchConnectionSpec, field, kafkaConnectionSpec, listOf, loadConfigOrExit, type ConfigOf, type Field } from '@opsreview/config'
import { degradedRuleSpec } from '@opsreview/review/degraded'
import { responseTimeSpec } from '@opsreview/review/response-times'
import { canonicalZone } from '@opsreview/review/zone'
import { ALL_ENVIRONMENTS } from '@opsreview/review/scope'
import { parseDigestAt, type DigestTime } from '@opsreview/review/digest'
import { loadTeamsFile, noTeams, type Teams } from '@opsreview/review/teams'

/** Bearer tokens, `secret` or `name:secret`, at least one (`parseTokenEntries`). */
function tokens(doc: string): Field<BearerToken[]> {
  return {
    doc,
    parse: (raw) => {
      const entries = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)
      if (entries.length === 0) return { ok: false, error: 'is required' }
      const r = parseTokenEntries(entries)
      return r.ok ? r : { ok: false, error: r.error }
    },
  }
}

/** Every variable the review service reads. The configuration table in docs/configuration.md mirrors this. */
export const reviewConfigSpec = {
  OPSREVIEW_REVIEW_HOST: field.string('address to listen on', '127.0.0.1'),
  OPSREVIEW_REVIEW_PORT: field.port('port to listen on', 8081),
  OPSREVIEW_READ_TOKENS: tokens('bearer tokens that may read (search, review, dashboard data): secret, or name:secret'),
  OPSREVIEW_WRITE_TOKENS: tokens('bearer tokens that may also record decisions: secret, or name:secret, whose name is then the actor'),
  OPSREVIEW_ES_URL: field.url('Elasticsearch URL', 'http://127.0.0.1:9200'),
  ...elasticsearchConnectionSpec,
  OPSREVIEW_ES_INDEX_PREFIX: field.string('prefix of every index and alias', 'opsreview'),
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_COMMANDS: field.topic('topic of the review decisions', 'opsreview.commands.v1'),
  OPSREVIEW_TOPIC_COMMAND_RESULTS: field.topic("topic of the correlator's outcome of each decision, read for ?wait=true, decision outcomes and timelines", 'opsreview.command-results.v1'),
  OPSREVIEW_RECEIVER_URL: field.url('receiver that reports filed on the dashboard are handed to', 'http://127.0.0.1:8080'),
  OPSREVIEW_RECEIVER_TOKEN: field.string('an ingest token of the receiver, for reports filed on the dashboard; unset: the dashboard files none', ''),
  OPSREVIEW_WAIT_TIMEOUT: field.timer('how long ?wait=true waits for a decision to be visible', 10_000),
  OPSREVIEW_DEAD_LETTER_TOPICS: field.list('dead-letter topics whose last 24 h the dashboard counts', ['opsreview.rejected.v1', 'opsreview.indexer.dead-letter.v1', 'opsreview.correlator.dead-letter.v1'], { minItems: 1 }),
  OPSREVIEW_DEAD_LETTER_CACHE: field.duration('how long a dead-letter count is served before Kafka is asked again', 10_000),
  OPSREVIEW_IDEMPOTENCY_TTL: field.duration('how long the answer to a PATCH with an Idempotency-Key is replayed', 86_400_000),
  OPSREVIEW_IDEMPOTENCY_MAX_KEYS: field.int('how many Idempotency-Keys are remembered, the oldest forgotten first', 10_000, { min: 1 }),
  OPSREVIEW_TIMEZONE: field.custom('IANA time zone of review windows, trend days, look-back periods and Markdown times (?tz= overrides it)', 'UTC', (raw) => {
    const zone = canonicalZone(raw)
    return zone === undefined ? { ok: false, error: `must be an IANA time zone such as UTC or Europe/Berlin, got ${JSON.stringify(raw)}` } : { ok: true, value: zone }
  }),
  ...degradedRuleSpec,
  ...responseTimeSpec,
  // `*` as a request says it (?environment=*): set here it was taken for an environment of that name, and
  // every request without ?environment= found nothing.
  OPSREVIEW_REVIEW_ENVIRONMENTS: field.custom<string[]>('environments the review, its Markdown and the look-back cover when a request names none (?environment=); empty or * for all', [], (raw) => {
    const items = listOf(raw, 0)
    if (!items.ok || !items.value.includes(ALL_ENVIRONMENTS)) return items
    return items.value.length === 1 ? { ok: true, value: [] } : { ok: false, error: `${ALL_ENVIRONMENTS} (every environment) is given alone, got ${JSON.stringify(raw)}` }
  }),
  OPSREVIEW_TEAMS_FILE: field.custom<Teams>('JSON file of teams and the services each owns (schemas/teams.v1.json), for ?team=; unset: no teams', noTeams, (raw) => {
    const t = loadTeamsFile(raw)
    return t.ok ? t : { ok: false, error: `${raw}: ${t.errors.join('; ')}` }
  }),
  // The webhook URL is a secret (Slack's and Mattermost's carry their key in the path): no error quotes it.
  OPSREVIEW_DIGEST_WEBHOOK_URL: field.custom<URL | null>('incoming-webhook URL (Slack, Mattermost, Teams) the morning digest is posted to; empty: no digest', null, (raw) => {
    const u = URL.canParse(raw) ? new URL(raw) : null
    return u && (u.protocol === 'https:' || u.protocol === 'http:') ? { ok: true, value: u } : { ok: false, error: 'must be an http(s) URL (not shown: it is a secret)' }
  }),
  OPSREVIEW_DIGEST_AT: field.custom<DigestTime>('local time of day (HH:MM, in OPSREVIEW_TIMEZONE) the morning digest is posted at', { hour: 8, minute: 30 }, (raw) => {
    const t = parseDigestAt(raw)
    return t.ok ? t : { ok: false, error: t.error }
  }),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
}

export type ReviewConfig = ConfigOf<typeof reviewConfigSpec>

/** The review's default scope and teams (packages/review/src/scope.ts). */
export const scopeDefaultsOf = (c: ReviewConfig) => ({ environments: c.OPSREVIEW_REVIEW_ENVIRONMENTS, teams: c.OPSREVIEW_TEAMS_FILE })

export function loadReviewConfig(env: NodeJS.ProcessEnv): ReviewConfig {
  return loadConfigOrExit('review', reviewConfigSpec, env)
}
