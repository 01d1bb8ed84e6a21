import { elasticsearchConnectionSpec, field, kafkaConnectionSpec, type ConfigOf, type Field } from '@opsreview/config'
import { defaultTopics } from '@opsreview/kafka/topics'

/** A variable that, when unset, leaves the engine's default in place instead of naming one here. */
function unlessUnset<T>(f: Field<T>): Field<T | undefined> {
  return { doc: `${f.doc} (unset: the engine's default)`, parse: (raw) => (raw === undefined || raw.trim() === '' ? { ok: true, value: undefined } : f.parse(raw)) }
}

/**
 * Every variable `opsreview replay` reads: where the log and the live indices are, and the correlator's
 * thresholds under the correlator's own names (services/correlator/src/config.ts), so a replay runs with
 * the values a correlator would be started with. docs/replay.md mirrors this.
 */
export const replayConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.list('Kafka bootstrap brokers', ['127.0.0.1:9092'], { minItems: 1 }),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.string('topic of canonical alert events', defaultTopics.alerts),
  OPSREVIEW_TOPIC_COMMANDS: field.string('topic of the review decisions', 'opsreview.commands.v1'),
  OPSREVIEW_ES_URL: field.url('Elasticsearch URL', 'http://127.0.0.1:9200'),
  ...elasticsearchConnectionSpec,
  OPSREVIEW_ES_INDEX_PREFIX: field.string('prefix of the live indices; datasets are <prefix>-whatif-<name>', 'opsreview'),
  OPSREVIEW_TICK_INTERVAL: field.duration("the live correlator's tick interval: the replay ticks at the records' receipt times this often (0: no ticks)", 5000),
  OPSREVIEW_REPLAY_IDLE_TIMEOUT: field.duration('give up when Kafka sends nothing for this long while records are expected', 60_000),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'warn'),
  OPSREVIEW_GROUPING_RULES: field.string('the live grouping rules file, replayed with when --config is not given (empty: the default rules)', ''),
  OPSREVIEW_QUIET_PERIOD: unlessUnset(field.duration('all members resolved this long: the incident resolves')),
  OPSREVIEW_REOPEN_WINDOW: unlessUnset(field.duration('a member firing again this soon reopens the incident')),
  OPSREVIEW_JOIN_WINDOW: unlessUnset(field.duration('a new alert joins an open incident only if it saw an event this recently (0: no limit)')),
  OPSREVIEW_REPORT_WINDOW: unlessUnset(field.duration('a report and an alert this close belong to one incident')),
  OPSREVIEW_STALENESS_ALERTMANAGER: unlessUnset(field.duration('firing Alertmanager alerts not heard of this long resolve')),
  OPSREVIEW_STALENESS_PINGDOM: unlessUnset(field.duration('likewise for Pingdom checks')),
  OPSREVIEW_STALENESS_REPORT: unlessUnset(field.duration('incidents opened by a report only resolve after this long')),
  OPSREVIEW_POSTMORTEM_SEVERITIES: unlessUnset(field.list('severities that require a post-mortem')),
  OPSREVIEW_POSTMORTEM_MIN_DURATION: unlessUnset(field.duration('incidents this long require a post-mortem')),
  OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT: unlessUnset(field.oneOf('customer impact requires a post-mortem', ['true', 'false'] as const)),
  OPSREVIEW_POSTMORTEM_MIN_SERVICES: unlessUnset(field.int('incidents hitting this many services require a post-mortem (0: off)', undefined, { min: 0 })),
  OPSREVIEW_RECURRING_MIN_INCIDENTS: unlessUnset(field.int('incidents with one signature that make a recurring problem', undefined, { min: 2 })),
  OPSREVIEW_RECURRING_WINDOW: unlessUnset(field.duration('within this window')),
  OPSREVIEW_FLAPPING_MIN_FLAPS: unlessUnset(field.int('re-fires of one alert that make it flapping', undefined, { min: 2 })),
  OPSREVIEW_FLAPPING_WINDOW: unlessUnset(field.duration('within this window')),
  OPSREVIEW_SHARED_CAUSE_WINDOW: unlessUnset(field.duration('incidents opening this close can share a cause')),
  OPSREVIEW_SHARED_CAUSE_MIN_SERVICES: unlessUnset(field.int('services that must share a dependency value', undefined, { min: 2 })),
  OPSREVIEW_SHARED_CAUSE_LABELS: unlessUnset(field.list('dependency labels')),
  OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS: unlessUnset(field.list("jobs whose instance is the exporter's own address")),
  OPSREVIEW_CORRELATOR_RETENTION: unlessUnset(field.duration('how long event ids and resolved incidents stay in engine state')),
  OPSREVIEW_ALLOWED_LATENESS: unlessUnset(field.duration('how late an event may arrive and still be applied in event-time order')),
  OPSREVIEW_FUTURE_TOLERANCE: unlessUnset(field.duration("a sender's event time more than this after receipt is clamped")),
}

export type ReplayConfig = ConfigOf<typeof replayConfigSpec>

/** The threshold variables that are set: what the replay overrides, and what its report shows. */
const thresholdNames = ['OPSREVIEW_QUIET_PERIOD', 'OPSREVIEW_REOPEN_WINDOW', 'OPSREVIEW_REPORT_WINDOW', 'OPSREVIEW_JOIN_WINDOW', 'OPSREVIEW_STALENESS_ALERTMANAGER', 'OPSREVIEW_STALENESS_PINGDOM', 'OPSREVIEW_STALENESS_REPORT',
  'OPSREVIEW_POSTMORTEM_SEVERITIES', 'OPSREVIEW_POSTMORTEM_MIN_DURATION', 'OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT', 'OPSREVIEW_POSTMORTEM_MIN_SERVICES', 'OPSREVIEW_RECURRING_MIN_INCIDENTS', 'OPSREVIEW_RECURRING_WINDOW',
  'OPSREVIEW_FLAPPING_MIN_FLAPS', 'OPSREVIEW_FLAPPING_WINDOW', 'OPSREVIEW_SHARED_CAUSE_WINDOW', 'OPSREVIEW_SHARED_CAUSE_MIN_SERVICES', 'OPSREVIEW_SHARED_CAUSE_LABELS', 'OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS',
  'OPSREVIEW_CORRELATOR_RETENTION', 'OPSREVIEW_ALLOWED_LATENESS', 'OPSREVIEW_FUTURE_TOLERANCE'] as const satisfies readonly (keyof ReplayConfig)[]

type Thresholds = { [K in (typeof thresholdNames)[number]]?: NonNullable<ReplayConfig[K]> }

/** The threshold variables that are set: what the replay overrides, and what its report shows. */
export function settingOverridesOf(c: ReplayConfig): Thresholds {
  return Object.fromEntries(thresholdNames.filter((name) => c[name] !== undefined).map((name) => [name, c[name]])) as Thresholds
}
