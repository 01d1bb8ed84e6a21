import { deadLetterTopicSpec, documentTopicSpec, type TopicSpec } from '@opsreview/kafka/topics'

const DAY_MS = 24 * 60 * 60 * 1000

/** The correlator's topics. Outputs and state are compacted: the latest record per key is the truth. */
export interface CorrelatorTopics {
  alerts: string
  commands: string
  /** Internal: alerts, commands and ticks keyed by environment, the engine's replayable input log. */
  input: string
  incidents: string
  problems: string
  commandResults: string
  /** Internal: one engine snapshot per input partition. */
  state: string
  /** Records the correlator gave up on (poison), as dead-letter envelopes. */
  deadLetter: string
}

export const defaultCorrelatorTopics: CorrelatorTopics = Object.freeze({
  alerts: 'opsreview.alerts.v1',
  commands: 'opsreview.commands.v1',
  input: 'opsreview.correlator.input.v1',
  incidents: 'opsreview.incidents.v1',
  problems: 'opsreview.problems.v1',
  commandResults: 'opsreview.command-results.v1',
  state: 'opsreview.correlator.state.v1',
  deadLetter: 'opsreview.correlator.dead-letter.v1',
})

export function correlatorTopicSpecs(t: CorrelatorTopics, inputPartitions: number, retentionDays: number): TopicSpec[] {
  const compacted = (topic: string, numPartitions: number, extra: Record<string, string> = {}): TopicSpec => ({ topic, numPartitions, cleanupPolicy: 'compact', configs: extra })
  return [
    { topic: t.commands, numPartitions: 3, cleanupPolicy: 'delete', retentionMs: retentionDays * DAY_MS },
    // The input log must outlive the oldest snapshot it is replayed from; it is kept as long as the alerts.
    { topic: t.input, numPartitions: inputPartitions, cleanupPolicy: 'delete', retentionMs: retentionDays * DAY_MS, partitionsFixed: true },
    documentTopicSpec(t.incidents, 6),
    documentTopicSpec(t.problems, 3),
    // As long as the commands: the review rebuilds its decision timelines from both when it starts.
    { topic: t.commandResults, numPartitions: 3, cleanupPolicy: 'delete', retentionMs: retentionDays * DAY_MS },
    // Snapshots are gzip'ed JSON of a whole partition's state and can exceed Kafka's 1 MB default.
    compacted(t.state, 1, { 'max.message.bytes': String(64 * 1024 * 1024) }),
    deadLetterTopicSpec(t.deadLetter),
  ]
}
