import kafkajs, { type Kafka, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { connectProducer, type ConnectRetry } from '@opsreview/kafka/connection'
import type { ListCommand, ReplayCommand } from './args.ts'
import { kafkaUnavailable, ReplayFailedError } from './errors.ts'
import { readDeadLetters, type TopicRead } from './read.ts'
import { classifyKafkaFailure, deadLetterId, formatReplayReport, kafkaRecordTarget, receiverWebhookTarget, replayDeadLetters, type ReplayTargets } from './replay.ts'
import { formatSummary, ReasonCounts, selects } from './summary.ts'

export interface CommandDeps {
  kafka: Kafka
  logger: Logger
  /** Every dead-letter topic; `--topic` narrows to some of them (or names another). */
  topics: readonly string[]
  readTimeoutMs?: number
  /**
   * The operator's Ctrl-C: stops the read (its reader disconnected, its group deleted) or a replay before
   * its next letter, rejecting with the signal's reason.
   */
  signal?: AbortSignal | undefined
}

export interface CommandResult {
  /** For a person: what to print. */
  text: string
  /** For `--json`. */
  json: unknown
  exitCode: number
}

const topicsOf = (cmd: { topics: string[] }, deps: CommandDeps) => (cmd.topics.length > 0 ? cmd.topics : deps.topics)
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

export async function listCommand(cmd: ListCommand, deps: CommandDeps): Promise<CommandResult> {
  const topics = topicsOf(cmd, deps)
  const counts = new ReasonCounts()
  const read = await readDeadLetters({
    kafka: deps.kafka, topics, sinceMs: cmd.sinceMs, logger: deps.logger, timeoutMs: deps.readTimeoutMs, signal: deps.signal,
    onLetter: (dl) => { if (selects({ sinceMs: cmd.sinceMs, reasons: cmd.reasons }, dl)) counts.add(dl) },
    keep: () => false,
  })
  // As the replay does: a record for a compacted topic is not appended again, so it is no replayable letter.
  const groups = counts.groups(await compacted(deps.kafka, counts.recordTargets()))
  const total = groups.reduce((s, g) => s + g.count, 0)
  const replayable = groups.reduce((s, g) => s + g.replayable, 0)
  return {
    text: formatSummary(groups, { sinceMs: cmd.sinceMs, topics: read.topics }),
    json: { since: iso(cmd.sinceMs), topics: read.topics, groups, total, replayable, compactedTarget: groups.reduce((s, g) => s + g.compactedTarget, 0) },
    exitCode: 0,
  }
}

export interface ReplayDeps extends CommandDeps {
  receiverUrl: string
  /** The bearer token for the receiver; webhook replays fail without one. */
  ingestToken: string | undefined
}

/** Exit code 1 when any dead letter failed again, so a script notices. */
export async function replayCommand(cmd: ReplayCommand, deps: ReplayDeps): Promise<CommandResult> {
  const topics = topicsOf(cmd, deps)
  const read = await readDeadLetters({
    kafka: deps.kafka, topics, sinceMs: cmd.sinceMs, logger: deps.logger, timeoutMs: deps.readTimeoutMs, signal: deps.signal,
    keep: (dl) => selects({ sinceMs: cmd.sinceMs, reasons: cmd.reasons }, dl),
  })
  const selected = read.deadLetters
  const compactedTopics = await compacted(deps.kafka, new Set(selected.flatMap((dl) => (dl.replay?.kind === 'record' ? [dl.replay.topic] : []))))
  const records = lazyRecordTarget(deps.kafka, deps.logger)
  const webhook = deps.ingestToken
    ? receiverWebhookTarget({ receiverUrl: deps.receiverUrl, token: deps.ingestToken })
    : async () => { throw new ReplayFailedError('no ingest token: set OPSREVIEW_INGEST_TOKENS', false) }
  const targets: ReplayTargets = {
    record: records.record,
    webhook,
  }
  try {
    const report = await replayDeadLetters(selected, { targets, dryRun: cmd.dryRun, logger: deps.logger, compactedTopics, signal: deps.signal })
    const missing = read.topics.filter((t) => !t.exists).map((t: TopicRead) => `  ${t.topic}: no such topic\n`).join('')
    return {
      text: `replay of reason ${cmd.reasons.join(', ')} since ${iso(cmd.sinceMs)}\n${missing}${formatReplayReport(report)}`,
      json: {
        since: iso(cmd.sinceMs), reasons: cmd.reasons, topics: read.topics, dryRun: report.dryRun,
        matched: report.matched, replayed: report.replayed, failed: report.failed, notReplayable: report.notReplayable, duplicates: report.duplicates,
        outcomes: report.outcomes.map((o) => ({ id: deadLetterId(o.deadLetter), topic: o.deadLetter.topic, partition: o.deadLetter.partition, offset: o.deadLetter.offset, reason: o.deadLetter.reason, ...o, deadLetter: undefined })),
      },
      exitCode: report.failed > 0 ? 1 : 0,
    }
  } finally {
    await records.close()
  }
}

/**
 * Record replays through a producer connected on the first one. A producer that could not connect is
 * dropped (connectProducer has disconnected it), so the next record replay connects afresh instead of
 * sending through it; the connect error is a Kafka failure like a send's (classifyKafkaFailure).
 */
export function lazyRecordTarget(kafka: Pick<Kafka, 'producer'>, logger: Logger, connectRetry: Omit<ConnectRetry, 'onRetry'> = {}): { record: ReplayTargets['record']; close(): Promise<void> } {
  let producer: Producer | undefined
  return {
    record: async (replay) => {
      if (!producer) {
        // A replay must not create a topic that is gone: that is a failure to report, not to paper over.
        const connecting = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
        try {
          await connectProducer(connecting, { ...connectRetry, onRetry: (err, attempt) => logger.warn({ err, attempt }, 'kafka producer could not connect yet; retrying') })
        } catch (err) {
          throw classifyKafkaFailure(err)
        }
        producer = connecting
      }
      await kafkaRecordTarget(producer)(replay)
    },
    close: async () => {
      await producer?.disconnect().catch((err: unknown) => logger.warn({ err }, 'replay producer did not disconnect cleanly'))
    },
  }
}

/**
 * Those of `topics` that exist and are compacted (`cleanup.policy` names `compact`). Kafka gone since the
 * read is Kafka unavailable, as it is for the read. `ConfigResourceTypes` through the default export: Node's
 * ESM loader does not find it among kafkajs's named CommonJS exports.
 */
async function compacted(kafka: Kafka, topics: ReadonlySet<string>): Promise<Set<string>> {
  if (topics.size === 0) return new Set()
  const admin = kafka.admin()
  try {
    await admin.connect()
    const existing = new Set(await admin.listTopics())
    const names = [...topics].filter((t) => existing.has(t))
    if (names.length === 0) return new Set()
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: names.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] })) })
    return new Set(resources.filter((r) => r.configEntries.some((e) => e.configName === 'cleanup.policy' && e.configValue.split(',').map((p) => p.trim()).includes('compact'))).map((r) => r.resourceName))
  } catch (err) {
    throw kafkaUnavailable(err)
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
