import { field, kafkaConnectionSpec, loadConfigOrExit, type ConfigOf, type Field } from '@opsreview/config'
import type { CorrelationConfig } from '@opsreview/correlation/config'
import { thresholdConfigOf, thresholdSpec } from '@opsreview/correlation/settings'
import { defaultCorrelatorTopics as t, type CorrelatorTopics } from '@opsreview/correlation-stream/topics'
import { parseGroupingRulesSetting } from '@opsreview/grouping'


/** A variable the grouping rules file replaced: set, it stops the start instead of being ignored. */
function replacedByGroupingRules(doc: string): Field<undefined> {
  return {
    doc,
    parse: (raw) => (raw === undefined || raw.trim() === ''
      ? { ok: true, value: undefined }
      : { ok: false, error: 'is no longer read: give the grouping in the OPSREVIEW_GROUPING_RULES file (docs/grouping.md)' }),
  }
}

/** Every variable the correlator reads. The configuration table in docs/configuration.md mirrors this. */
export const correlatorConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.topic('topic of canonical alert events', t.alerts),
  OPSREVIEW_TOPIC_COMMANDS: field.topic('topic of the review decisions', t.commands),
  OPSREVIEW_TOPIC_CORRELATOR_INPUT: field.topic('internal engine input, keyed by environment', t.input),
  OPSREVIEW_TOPIC_INCIDENTS: field.topic('compacted topic of incident versions', t.incidents),
  OPSREVIEW_TOPIC_PROBLEMS: field.topic('compacted topic of problem versions', t.problems),
  OPSREVIEW_TOPIC_COMMAND_RESULTS: field.topic('outcome of each command', t.commandResults),
  OPSREVIEW_TOPIC_CORRELATOR_STATE: field.topic('compacted topic of engine snapshots', t.state),
  OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: field.topic('poison records (not an event or command, or the engine cannot apply them), as dead-letter envelopes', t.deadLetter),
  OPSREVIEW_CORRELATOR_GROUP: field.string('consumer group prefix (…-rekey and …-engine)', 'opsreview-correlator'),
  // The broker's bounds (group.min/max.session.timeout.ms by default): outside them every join is refused,
  // which kafkajs does not retry, and the service restarted into the same refusal.
  OPSREVIEW_KAFKA_SESSION_TIMEOUT: field.duration('consumer session timeout: how soon partitions of a dead instance move', 30_000, { min: 6000, max: 1_800_000 }),
  OPSREVIEW_CORRELATOR_PARTITIONS: field.int('partitions of the input topic when created', 6, { min: 1 }),
  OPSREVIEW_CORRELATOR_RETENTION_DAYS: field.int('retention of the input, commands and command-results topics, and of the alerts topic, when the correlator creates them', 30, { min: 1 }),
  OPSREVIEW_TICK_INTERVAL: field.timer('how often timers are ticked (0 turns ticks off)', 5000),
  OPSREVIEW_SNAPSHOT_INTERVAL: field.duration('how often partition state is checkpointed, at the most', 5000),
  OPSREVIEW_SNAPSHOT_MAX_PERCENT: field.int("the largest share of a partition's time its checkpoints may take: the next waits the last one's duration times 100 / this", 5, { min: 1, max: 100 }),
  OPSREVIEW_STALL_AFTER: field.duration('a consumer with lag and no progress for this long is stalled: /readyz turns 503', 60_000, { min: 1000 }),
  OPSREVIEW_CONSUMER_HEALTH_INTERVAL: field.timer('how often end and committed offsets are fetched for consumer health', 5000, { min: 100 }),
  OPSREVIEW_CORRELATOR_HOST: field.string('address of the health and metrics endpoint', '127.0.0.1'),
  OPSREVIEW_CORRELATOR_PORT: field.port('port of the health and metrics endpoint', 8083),
  OPSREVIEW_GROUPING_RULES: {
    doc: 'grouping rules file (.json, .yaml, .yml): which fields group alerts into incidents (docs/grouping.md); empty: the defaults',
    parse: parseGroupingRulesSetting,
  },
  OPSREVIEW_GROUP_BY: replacedByGroupingRules('replaced by groupBy in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_INCIDENT_KEY_LABEL: replacedByGroupingRules('replaced by incidentKeyLabel in OPSREVIEW_GROUPING_RULES'),
  ...thresholdSpec,
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
  const thresholds = thresholdConfigOf(c)
  return { grouping: c.OPSREVIEW_GROUPING_RULES, ...thresholds, lateHold: { ...thresholds.lateHold, expectTicks: c.OPSREVIEW_TICK_INTERVAL > 0 } }
}
