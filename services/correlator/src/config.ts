import { field, kafkaConnectionSpec, loadConfigOrExit, type ConfigOf, type Field } from '@opsreview/config'
import { defaultCorrelationConfig as d, POSTMORTEM_MIN_SERVICES, type CorrelationConfig } from '@opsreview/correlation/config'
import { defaultCorrelatorTopics as t, type CorrelatorTopics } from '@opsreview/correlation-stream/topics'
import { parseGroupingRulesSetting } from '@opsreview/grouping'

/** A duration with a floor: 0 would make a timer spin or every partition stall at once (as the indexer's). */
function durationAtLeast(doc: string, def: number, minMs: number): Field<number> {
  const inner = field.duration(doc, def)
  return { doc, parse: (raw) => { const r = inner.parse(raw); return r.ok && r.value < minMs ? { ok: false, error: `must be at least ${minMs} ms, got ${r.value} ms` } : r } }
}

/** A variable the grouping rules file replaced: set, it stops the start instead of being ignored. */
function replacedByGroupingRules(doc: string): Field<undefined> {
  return {
    doc,
    parse: (raw) => (raw === undefined || raw.trim() === ''
      ? { ok: true, value: undefined }
      : { ok: false, error: 'is no longer read: give the grouping in the OPSREVIEW_GROUPING_RULES file (docs/grouping.md)' }),
  }
}

/** Every variable the correlator reads. The README's configuration table mirrors this. */
export const correlatorConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.list('Kafka bootstrap brokers', ['127.0.0.1:9092'], { minItems: 1 }),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.string('topic of canonical alert events', t.alerts),
  OPSREVIEW_TOPIC_COMMANDS: field.string('topic of the review decisions', t.commands),
  OPSREVIEW_TOPIC_CORRELATOR_INPUT: field.string('internal engine input, keyed by environment', t.input),
  OPSREVIEW_TOPIC_INCIDENTS: field.string('compacted topic of incident versions', t.incidents),
  OPSREVIEW_TOPIC_PROBLEMS: field.string('compacted topic of problem versions', t.problems),
  OPSREVIEW_TOPIC_COMMAND_RESULTS: field.string('outcome of each command', t.commandResults),
  OPSREVIEW_TOPIC_CORRELATOR_STATE: field.string('compacted topic of engine snapshots', t.state),
  OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: field.string('poison records (not an event or command, or the engine cannot apply them), as dead-letter envelopes', t.deadLetter),
  OPSREVIEW_CORRELATOR_GROUP: field.string('consumer group prefix (…-rekey and …-engine)', 'opsreview-correlator'),
  OPSREVIEW_KAFKA_SESSION_TIMEOUT: field.duration('consumer session timeout: how soon partitions of a dead instance move', 30_000),
  OPSREVIEW_CORRELATOR_PARTITIONS: field.int('partitions of the input topic when created', 6, { min: 1 }),
  OPSREVIEW_CORRELATOR_RETENTION_DAYS: field.int('retention of the input and commands topics when created', 30, { min: 1 }),
  OPSREVIEW_TICK_INTERVAL: field.duration('how often timers are ticked (0 turns ticks off)', 5000),
  OPSREVIEW_SNAPSHOT_INTERVAL: field.duration('how often partition state is checkpointed, at the most', 5000),
  OPSREVIEW_SNAPSHOT_MAX_PERCENT: field.int("the largest share of a partition's time its checkpoints may take: the next waits the last one's duration times 100 / this", 5, { min: 1, max: 100 }),
  OPSREVIEW_STALL_AFTER: durationAtLeast('a consumer with lag and no progress for this long is stalled: /readyz turns 503', 60_000, 1000),
  OPSREVIEW_CONSUMER_HEALTH_INTERVAL: durationAtLeast('how often end and committed offsets are fetched for consumer health', 5000, 100),
  OPSREVIEW_CORRELATOR_HOST: field.string('address of the health and metrics endpoint', '127.0.0.1'),
  OPSREVIEW_CORRELATOR_PORT: field.port('port of the health and metrics endpoint', 8083),
  OPSREVIEW_GROUPING_RULES: {
    doc: 'grouping rules file (.json, .yaml, .yml): which fields group alerts into incidents (docs/grouping.md); empty: the defaults',
    parse: parseGroupingRulesSetting,
  },
  OPSREVIEW_GROUP_BY: replacedByGroupingRules('replaced by groupBy in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_INCIDENT_KEY_LABEL: replacedByGroupingRules('replaced by incidentKeyLabel in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_QUIET_PERIOD: field.duration('all members resolved this long: the incident resolves', d.quietPeriodMs),
  OPSREVIEW_REOPEN_WINDOW: field.duration('a member firing again this soon reopens the incident', d.reopenWindowMs),
  OPSREVIEW_JOIN_WINDOW: field.duration('a new alert joins an open incident only if it saw an event this recently (0: no limit)', d.joinWindowMs),
  OPSREVIEW_REPORT_WINDOW: field.duration('a report joins an incident opening this soon after it; an incident of reports alone takes alerts this near one of its reports', d.reportWindowMs),
  OPSREVIEW_STALENESS_ALERTMANAGER: field.duration('firing Alertmanager alerts not heard of this long resolve', d.stalenessMs.alertmanager),
  OPSREVIEW_STALENESS_PINGDOM: field.duration('likewise for Pingdom checks (0: never; Pingdom sends state changes only)', d.stalenessMs.pingdom),
  OPSREVIEW_STALENESS_REPORT: field.duration('incidents opened by a report only resolve after this long', d.stalenessMs.report),
  OPSREVIEW_POSTMORTEM_SEVERITIES: field.list('a post-mortem needs one of these severities, and one of the conditions below', [...d.postmortem.severities]),
  OPSREVIEW_POSTMORTEM_MIN_DURATION: field.duration('condition: the incident lasted this long (0 turns it off)', d.postmortem.minDurationMs),
  OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT: field.oneOf('condition: customers were affected', ['true', 'false'] as const, d.postmortem.whenCustomerImpact ? 'true' : 'false'),
  OPSREVIEW_POSTMORTEM_MIN_SERVICES: field.int('condition: the incident hit this many services (0 turns it off; all three off: the severity alone)', d.postmortem.minServices ?? POSTMORTEM_MIN_SERVICES, { min: 0 }),
  OPSREVIEW_RECURRING_MIN_INCIDENTS: field.int('incidents with one signature that make a recurring problem', d.recurring.minIncidents, { min: 2 }),
  OPSREVIEW_RECURRING_WINDOW: field.duration('within this window', d.recurring.windowMs),
  OPSREVIEW_FLAPPING_MIN_FLAPS: field.int('re-fires of one alert that make it flapping', d.flapping.minFlaps, { min: 2 }),
  OPSREVIEW_FLAPPING_WINDOW: field.duration('within this window', d.flapping.windowMs),
  OPSREVIEW_SHARED_CAUSE_WINDOW: field.duration('incidents opening this close can share a cause', d.sharedCause.windowMs),
  OPSREVIEW_SHARED_CAUSE_MIN_SERVICES: field.int('services that must share a dependency value', d.sharedCause.minServices, { min: 2 }),
  OPSREVIEW_SHARED_CAUSE_LABELS: field.list('dependency labels (host also matches the host part of instance)', [...d.sharedCause.labels]),
  OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS: field.list("jobs whose instance is the exporter's own address, not a host the alert is about", [...d.sharedCause.exporterJobs ?? []]),
  OPSREVIEW_CORRELATOR_RETENTION: field.duration('how long event ids and resolved incidents stay in engine state', d.retentionMs),
  OPSREVIEW_ALLOWED_LATENESS: field.duration('how late an event may arrive and still be applied in event-time order; also how long each event waits', d.allowedLatenessMs),
  OPSREVIEW_FUTURE_TOLERANCE: field.duration("a sender's event time more than this after receipt is clamped to receipt + this", d.futureToleranceMs),
  OPSREVIEW_LATE_HOLD_AFTER: field.duration('an event this far behind the watermark is a backlog: held until a tick finds the backlog drained, then applied in event-time order', d.lateHold.afterMs),
  OPSREVIEW_LATE_HOLD_QUIET: field.duration('a held backlog is applied at the first tick after this long without a held arrival', d.lateHold.quietMs),
  OPSREVIEW_LATE_HOLD_MAX: field.duration('a backlog held this long (of ticks) is applied even if more keeps coming: longer ones are applied in chunks', d.lateHold.maxMs),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
}

export type CorrelatorConfig = ConfigOf<typeof correlatorConfigSpec>

export function loadCorrelatorConfig(env: NodeJS.ProcessEnv): CorrelatorConfig {
  return loadConfigOrExit('correlator', correlatorConfigSpec, env)
}

export function topicsOf(c: CorrelatorConfig): CorrelatorTopics {
  return {
    alerts: c.OPSREVIEW_TOPIC_ALERTS, commands: c.OPSREVIEW_TOPIC_COMMANDS, input: c.OPSREVIEW_TOPIC_CORRELATOR_INPUT,
    incidents: c.OPSREVIEW_TOPIC_INCIDENTS, problems: c.OPSREVIEW_TOPIC_PROBLEMS, commandResults: c.OPSREVIEW_TOPIC_COMMAND_RESULTS,
    state: c.OPSREVIEW_TOPIC_CORRELATOR_STATE, deadLetter: c.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER,
  }
}

export function engineConfigOf(c: CorrelatorConfig): CorrelationConfig {
  return {
    grouping: c.OPSREVIEW_GROUPING_RULES,
    quietPeriodMs: c.OPSREVIEW_QUIET_PERIOD,
    reopenWindowMs: c.OPSREVIEW_REOPEN_WINDOW,
    reportWindowMs: c.OPSREVIEW_REPORT_WINDOW,
    joinWindowMs: c.OPSREVIEW_JOIN_WINDOW,
    stalenessMs: { alertmanager: c.OPSREVIEW_STALENESS_ALERTMANAGER, pingdom: c.OPSREVIEW_STALENESS_PINGDOM, report: c.OPSREVIEW_STALENESS_REPORT },
    postmortem: { severities: c.OPSREVIEW_POSTMORTEM_SEVERITIES, minDurationMs: c.OPSREVIEW_POSTMORTEM_MIN_DURATION, whenCustomerImpact: c.OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT === 'true', minServices: c.OPSREVIEW_POSTMORTEM_MIN_SERVICES },
    recurring: { minIncidents: c.OPSREVIEW_RECURRING_MIN_INCIDENTS, windowMs: c.OPSREVIEW_RECURRING_WINDOW },
    flapping: { minFlaps: c.OPSREVIEW_FLAPPING_MIN_FLAPS, windowMs: c.OPSREVIEW_FLAPPING_WINDOW },
    sharedCause: { windowMs: c.OPSREVIEW_SHARED_CAUSE_WINDOW, minServices: c.OPSREVIEW_SHARED_CAUSE_MIN_SERVICES, labels: c.OPSREVIEW_SHARED_CAUSE_LABELS, exporterJobs: c.OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS },
    retentionMs: c.OPSREVIEW_CORRELATOR_RETENTION,
    allowedLatenessMs: c.OPSREVIEW_ALLOWED_LATENESS,
    futureToleranceMs: c.OPSREVIEW_FUTURE_TOLERANCE,
    lateHold: { afterMs: c.OPSREVIEW_LATE_HOLD_AFTER, quietMs: c.OPSREVIEW_LATE_HOLD_QUIET, maxMs: c.OPSREVIEW_LATE_HOLD_MAX, maxEvents: d.lateHold.maxEvents, expectTicks: c.OPSREVIEW_TICK_INTERVAL > 0 },
  }
}
