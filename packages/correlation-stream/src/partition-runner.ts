import type { Consumer, EachBatchPayload, Message, Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { CorrelationConfig } from '@opsreview/correlation/config'
import type { EngineInput, EngineOutput } from '@opsreview/correlation/types'
import type { KafkaStateStore, SavedState } from './state-store.ts'
import type { CorrelatorTopics } from './topics.ts'

export interface PartitionRunnerOptions {
  consumer: Consumer
  producer: Producer
  store: KafkaStateStore
  topics: CorrelatorTopics
  engineConfig: Partial<CorrelationConfig>
  logger: Logger
  /** How often a partition's state is checkpointed (and its input offset committed). */
  snapshotIntervalMs: number
  /** Wall clock, for the checkpoint cadence only; the engine has its own clock. */
  now: () => number
  onApplied?: (inputs: number, outputs: number) => void
}

interface PartitionEngine {
  engine: CorrelationEngine
  /** The last input offset applied (-1: none). */
  applied: bigint
  /** The last offset checkpointed. */
  saved: bigint
  lastCheckpoint: number
}

/**
 * Where each output goes: incidents and problems keyed by id (compacted topics), results by command id.
 * Within one batch only the last version of each incident and problem is sent: the topics keep the latest
 * record per key and the index keeps the highest version, so the versions in between would be overwritten
 * unread (a burst of ten alerts joining one incident is one write, not ten).
 */
export function outputMessages(outputs: EngineOutput[], topics: CorrelatorTopics): { topic: string; messages: Message[] }[] {
  const latest = new Map<string, { topic: string; message: Message }>()
  for (const o of outputs) {
    const [topic, key, value] = o.type === 'incident' ? [topics.incidents, o.incident.id, o.incident]
      : o.type === 'problem' ? [topics.problems, o.problem.id, o.problem]
      : [topics.commandResults, o.result.commandId, o.result]
    const id = `${topic}\u0000${key}`
    latest.delete(id) // keep the order of last appearance
    latest.set(id, { topic, message: { key, value: JSON.stringify(value) } })
  }
  const byTopic = new Map<string, Message[]>()
  for (const { topic, message } of latest.values()) byTopic.set(topic, [...(byTopic.get(topic) ?? []), message])
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

/**
 * Runs one correlation engine per assigned input partition. A partition is restored from its latest
 * snapshot and replays its input log from the snapshot's offset; outputs are produced (acks=all) before
 * anything is committed, and the input offset is committed only together with a snapshot that includes
 * it. A crash at any point therefore replays from a snapshot and re-produces the same outputs (same ids,
 * same versions), which the compacted output topics and the indexer's external versions absorb.
 */
export class PartitionRunner {
  readonly #o: PartitionRunnerOptions
  readonly #engines = new Map<number, PartitionEngine>()
  #saved: Map<string, SavedState> | undefined
  #running = 0
  #idle: (() => void)[] = []

  constructor(opts: PartitionRunnerOptions) {
    this.#o = opts
  }

  /** After a rebalance: forget partitions no longer ours, and read snapshots afresh for new ones. */
  onAssignment(partitions: readonly number[]): void {
    for (const p of [...this.#engines.keys()]) if (!partitions.includes(p)) this.#engines.delete(p)
    this.#saved = undefined
  }

  get partitions(): number[] {
    return [...this.#engines.keys()]
  }

  /** How the handler must be run: it resolves and commits by itself. */
  static readonly runOptions = Object.freeze({ eachBatchAutoResolve: false, autoCommit: false })

  readonly handler = async (payload: EachBatchPayload): Promise<void> => {
    this.#running++
    try {
      await this.#apply(payload)
    } finally {
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve()
    }
  }

  /** Resolves when no batch is being applied: after pausing the consumer, the engines hold still. */
  idle(): Promise<void> {
    return this.#running === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve))
  }

  async #apply({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition, topic } = batch
    const log = this.#o.logger.child({ topic, partition })
    let pe = this.#engines.get(partition)
    if (!pe) {
      this.#saved ??= await this.#o.store.loadAll()
      const saved = this.#saved.get(`${topic}/${partition}`)
      const applied = saved ? BigInt(saved.offset) : -1n
      pe = { engine: new CorrelationEngine(this.#o.engineConfig, saved?.snapshot), applied, saved: applied, lastCheckpoint: this.#o.now() }
      this.#engines.set(partition, pe)
      log.info({ fromOffset: String(applied + 1n), snapshot: !!saved }, 'partition restored')
      const first = batch.messages[0]
      if (first && BigInt(first.offset) > applied + 1n) {
        // The group's position is past the snapshot: go back and replay what the snapshot lacks.
        this.#o.consumer.seek({ topic, partition, offset: String(applied + 1n) })
        return
      }
    }

    const outputs: EngineOutput[] = []
    let inputs = 0
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) return
      const offset = BigInt(m.offset)
      if (offset <= pe.applied) continue
      try {
        outputs.push(...pe.engine.apply(JSON.parse(m.value?.toString() ?? '') as EngineInput))
      } catch (err) {
        // The rekeyer validated every record; one that still fails is logged and skipped, never retried forever.
        log.error({ err, offset: m.offset }, 'input record could not be applied')
      }
      pe.applied = offset
      inputs++
    }
    if (outputs.length > 0) await this.#o.producer.sendBatch({ topicMessages: outputMessages(outputs, this.#o.topics), acks: -1 })
    this.#o.onApplied?.(inputs, outputs.length)
    // Resolving only moves kafkajs's fetch position past this batch (without it kafkajs fetches the same
    // records again); nothing is committed until a snapshot includes them (autoCommit is off).
    if (pe.applied >= 0n) resolveOffset(String(pe.applied))
    if (this.#o.now() - pe.lastCheckpoint >= this.#o.snapshotIntervalMs) await this.#checkpoint(topic, partition, pe)
    await heartbeat()
  }

  async #checkpoint(topic: string, partition: number, pe: PartitionEngine): Promise<void> {
    if (pe.applied === pe.saved) { pe.lastCheckpoint = this.#o.now(); return }
    await this.#o.store.save({ inputTopic: topic, partition, offset: String(pe.applied), snapshot: pe.engine.snapshot() })
    pe.saved = pe.applied
    pe.lastCheckpoint = this.#o.now()
    await this.#o.consumer.commitOffsets([{ topic, partition, offset: String(pe.applied + 1n) }])
  }

  /**
   * On shutdown: checkpoint every partition and commit, so a restart replays nothing. Pause the consumer
   * and wait for `idle()` first, and call it before `stop()`: kafkajs drops the group on stop, and a commit
   * after it cannot succeed.
   */
  async checkpointAll(): Promise<void> {
    const commits: { topic: string; partition: number; offset: string }[] = []
    for (const [partition, pe] of this.#engines) {
      if (pe.applied === pe.saved) continue
      await this.#o.store.save({ inputTopic: this.#o.topics.input, partition, offset: String(pe.applied), snapshot: pe.engine.snapshot() })
      pe.saved = pe.applied
      commits.push({ topic: this.#o.topics.input, partition, offset: String(pe.applied + 1n) })
    }
    if (commits.length > 0) await this.#o.consumer.commitOffsets(commits)
  }
}
