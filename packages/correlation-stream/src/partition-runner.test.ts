import { KafkaJSConnectionError, KafkaJSNonRetriableError, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { captureLogs, waitFor } from '@opsreview/testing'
import { logStartFrom, PartitionRunner, type PartitionRunnerOptions } from './partition-runner.ts'
import { CorrelationEngine, EngineCapacityError } from '@opsreview/correlation/engine'
import type { KafkaStateStore, StoredState } from './state-store.ts'
import { classifyFailure, KafkaUnavailableError } from './errors.ts'

const topics = { alerts: 'a', commands: 'c', input: 'in', incidents: 'i', problems: 'p', commandResults: 'r', state: 's', deadLetter: 'd' }
const tick = JSON.stringify({ type: 'tick', at: '2026-12-03T00:00:00.000Z' })
/** An input log nothing was removed from yet. */
const logStartAtZero = async () => '0'

/** One batch of the partition holding a tick at offset 0, as kafkajs hands it over. */
function tickBatch(resolved: string[] = [], partition = 0): EachBatchPayload {
  return {
    batch: { topic: 'in', partition, messages: [{ offset: '0', value: Buffer.from(tick) }] },
    resolveOffset: (o: string) => resolved.push(o), heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
  } as unknown as EachBatchPayload
}

/**
 * A runner whose outputs are always acknowledged, snapshots written (but for the partitions of `failSaves`),
 * and commits answered by `commit`.
 */
function runnerWithCommits(commit: (offset: string, partition: number) => void, opts: Partial<PartitionRunnerOptions> = {}, failSaves: number[] = []) {
  const saved: string[] = []
  const save = async ({ offset, partition }: { offset: string; partition: number }) => {
    if (failSaves.includes(partition)) throw new KafkaJSConnectionError('Connection closed')
    saved.push(offset)
    return { chunks: 1, bytes: 1, rawBytes: 1 }
  }
  const store = { loadAll: async () => new Map(), save } as unknown as KafkaStateStore
  const consumer = { commitOffsets: async (offsets: { offset: string; partition: number }[]) => { for (const { offset, partition } of offsets) commit(offset, partition) } } as unknown as Consumer
  const runner = new PartitionRunner({
    consumer, producer: { sendBatch: async () => [] }, store, topics, engineConfig: {}, logStartOf: logStartAtZero,
    logger: pino({ level: 'silent' }), snapshotIntervalMs: 0, now: () => Date.now(), ...opts,
  })
  return { runner, saved }
}

describe('PartitionRunner at shutdown', () => {
  it('applies no batch once stopping, although kafkajs still hands over batches it fetched before the pause', async () => {
    const touched: string[] = []
    const store = { loadAll: async () => { touched.push('store'); return new Map() } } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: {} as Consumer, producer: { sendBatch: async () => { touched.push('send'); return [] } }, store,
      topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
      onApplied: () => touched.push('applied'),
    })
    await runner.stopApplying()
    const resolved: string[] = []
    await runner.handler(tickBatch(resolved))
    expect(touched).toEqual([])
    expect(resolved).toEqual([])
  })

  it('commits a snapshot whose commit failed, although nothing was applied since', async () => {
    const commits: string[] = []
    let attempts = 0
    let failing = true
    const { runner, saved } = runnerWithCommits((offset) => {
      attempts++
      if (failing) throw new KafkaJSConnectionError('Connection closed')
      commits.push(offset)
    })
    await runner.handler(tickBatch())
    await waitFor(() => (attempts > 0 ? true : undefined), { what: 'the commit after the checkpoint' })
    failing = false
    await runner.stopApplying()
    await runner.checkpointAll()
    expect(saved).toEqual(['0'])
    expect(commits).toEqual(['1'])
  })

  it('checkpoints every other partition when one partition\'s save fails, and names that one', async () => {
    const commits: string[] = []
    const { runner, saved } = runnerWithCommits((offset, partition) => commits.push(`${partition}@${offset}`), { snapshotIntervalMs: 60_000 }, [0])
    await runner.handler(tickBatch([], 0))
    await runner.handler(tickBatch([], 1))
    await runner.stopApplying()
    await expect(runner.checkpointAll()).rejects.toThrow('the checkpoint of partition 0 of in failed')
    expect(saved).toEqual(['0'])
    expect(commits).toEqual(['1@1'])
  })

  it('stops waiting to retry a failed commit at shutdown, and commits it in checkpointAll at once', async () => {
    const commits: string[] = []
    let attempts = 0
    let failing = true
    const waits: number[] = []
    let waitEnded = false
    const { runner } = runnerWithCommits((offset) => {
      attempts++
      if (failing) throw new KafkaJSConnectionError('Connection closed')
      commits.push(offset)
    }, {
      // A back-off that only the shutdown ends: were the wait not cut short, checkpointAll would never come.
      sleep: (ms, ends) => {
        waits.push(ms)
        return new Promise((resolve) => ends.addEventListener('abort', () => { waitEnded = true; resolve() }, { once: true }))
      },
    })
    await runner.handler(tickBatch())
    await waitFor(() => (waits.length === 1 ? true : undefined), { what: 'the retry waiting out its back-off' })
    expect(waits).toEqual([250])
    expect(attempts).toBe(1)
    failing = false
    await runner.stopApplying()
    await runner.checkpointAll()
    expect(waitEnded).toBe(true)
    expect(commits).toEqual(['1'])
    // The loop did not try again after the wait ended: checkpointAll committed.
    expect(attempts).toBe(2)
    expect(waits).toEqual([250])
  })
})

describe('PartitionRunner checkpoints', () => {
  it('commits again with back-off when the commit after a snapshot fails: with no new input there is no next checkpoint to do it', async () => {
    const { logger, lines } = captureLogs()
    const commits: string[] = []
    let failures = 2
    const { runner, saved } = runnerWithCommits((offset) => {
      if (failures-- > 0) throw new KafkaJSConnectionError('Connection closed')
      commits.push(offset)
    }, { logger })
    await runner.handler(tickBatch())
    await waitFor(() => (commits.length > 0 ? true : undefined), { timeoutMs: 5000, what: 'the commit, retried' })
    expect(saved).toEqual(['0'])
    expect(commits).toEqual(['1'])
    expect(lines.filter((l) => l.msg === 'offset not committed after the checkpoint: retrying')).toMatchObject([{ failures: 1, retryInMs: 250 }])
    expect(lines.filter((l) => l.msg === 'offset committed after the checkpoint')).toMatchObject([{ offset: '0', failures: 2 }])
  })
  // As kafkajs answers a commit (its retrier wraps an error it may not retry, the original as `cause`), and bare.
  it.each([
    ['wrapped as kafkajs wraps a commit\'s', (e: Error) => Object.assign(new KafkaJSNonRetriableError(e), { cause: e })],
    ['bare', (e: Error) => e],
  ])('does not retry a commit the group refuses because it went on without this member, %s: the new owner commits', async (_how, wrap) => {
    const { logger, lines } = captureLogs()
    let attempts = 0
    const { runner, saved } = runnerWithCommits(() => {
      attempts++
      throw wrap(Object.assign(new Error('The coordinator is not aware of this member'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_MEMBER_ID' }))
    }, { logger })
    await runner.handler(tickBatch())
    await waitFor(() => (lines.some((l) => l.msg === 'offset not committed after the checkpoint: the group went on without this member') ? true : undefined), { timeoutMs: 5000, what: 'the commit given up' })
    // A retry would have come after 250 ms.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(saved).toEqual(['0'])
    expect(attempts).toBe(1)
    expect(lines.filter((l) => l.msg === 'offset not committed after the checkpoint: retrying')).toEqual([])
  })
})

describe('PartitionRunner reporting the snapshot age to expect', () => {
  it('is the spacing after a checkpoint and twice what the last one took: a large state\'s checkpoints are minutes apart', async () => {
    const clock = { t: 0 }
    const store = {
      loadAll: async () => new Map(),
      // A large state: its checkpoint takes 10 s.
      save: async () => { clock.t += 10_000; return { chunks: 1, bytes: 1, rawBytes: 1 } },
    } as unknown as KafkaStateStore
    const { runner } = runnerWithCommits(() => undefined, { store, snapshotIntervalMs: 5000, checkpointShare: 0.05, now: () => Date.now(), monotonicMs: () => clock.t })
    await runner.handler(tickBatch())
    // No checkpoint yet: the configured interval.
    expect(runner.expectedSnapshotAges()).toEqual(new Map([[0, 5]]))
    clock.t = 5000
    await runner.handler({ ...tickBatch(), batch: { topic: 'in', partition: 0, highWatermark: '2', messages: [{ offset: '1', value: Buffer.from(tick) }] } } as unknown as EachBatchPayload)
    // The checkpoint is written in the background: this waits for it.
    await runner.checkpointAll()
    // 10 s at a share of 5 %: the next one 200 s after it, and input applied as one was taken waits out two.
    expect(runner.expectedSnapshotAges()).toEqual(new Map([[0, 220]]))
  })
})

describe('PartitionRunner when the wall clock steps (NTP)', () => {
  const HOUR = 3_600_000
  const T = Date.parse('2026-12-03T08:00:00.000Z')
  const batchAt = (offset: number) => ({ ...tickBatch(), batch: { topic: 'in', partition: 0, highWatermark: String(offset + 1), messages: [{ offset: String(offset), value: Buffer.from(tick) }] } }) as unknown as EachBatchPayload

  it('checkpoints and commits once the spacing has passed on the monotonic clock, although the wall clock stepped back an hour between the batches', async () => {
    const wall = { t: T }
    const mono = { t: 0 }
    const commits: string[] = []
    const { runner, saved } = runnerWithCommits((offset) => commits.push(offset), { snapshotIntervalMs: 5000, now: () => wall.t, monotonicMs: () => mono.t })
    await runner.handler(batchAt(0))
    // Within the spacing: no checkpoint yet.
    expect(saved).toEqual([])
    wall.t = T - HOUR
    mono.t = 6000
    await runner.handler(batchAt(1))
    await waitFor(() => (commits.length > 0 ? true : undefined), { timeoutMs: 2000, what: 'the checkpoint after the spacing, and its commit' })
    expect({ saved, commits }).toEqual({ saved: ['1'], commits: ['2'] })
  })

  it('waits out the spacing on the monotonic clock when the wall clock steps forward an hour, and reports the snapshot age it measured there', async () => {
    const wall = { t: T }
    const mono = { t: 0 }
    const { runner, saved } = runnerWithCommits(() => undefined, { snapshotIntervalMs: 5000, now: () => wall.t, monotonicMs: () => mono.t })
    await runner.handler(batchAt(0))
    wall.t = T + HOUR
    mono.t = 10
    await runner.handler(batchAt(1))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(saved).toEqual([])
    // Input unsaved for 10 ms, not an hour: the age alert does not fire on a clock step.
    expect(runner.snapshotAges()).toEqual(new Map([[0, 0.01]]))
  })

  it('stamps a dead letter with the wall clock, not the monotonic one', async () => {
    const sent: { topic: string; messages: { value: string }[] }[] = []
    const { runner } = runnerWithCommits(() => undefined, {
      producer: { sendBatch: async ({ topicMessages }) => { sent.push(...(topicMessages as never[])); return [] } },
      snapshotIntervalMs: 60_000, now: () => T, monotonicMs: () => 42,
    })
    await runner.handler({ ...tickBatch(), batch: { topic: 'in', partition: 0, messages: [{ offset: '0', value: Buffer.from('{not json') }] } } as unknown as EachBatchPayload)
    const letters = sent.filter((t) => t.topic === topics.deadLetter).flatMap((t) => t.messages)
    expect(letters.map((m) => (JSON.parse(m.value) as { at: string }).at)).toEqual(['2026-12-03T08:00:00.000Z'])
  })
})

describe('PartitionRunner losing a partition mid-checkpoint', () => {
  it('writes no manifest and commits nothing for a checkpoint whose partition was revoked while its chunks were written', async () => {
    const commits: string[] = []
    let owner: boolean | undefined
    const store = {
      loadAll: async () => new Map(),
      save: async (_state: unknown, opts?: { stillOwner?: () => boolean }) => {
        runner.onAssignment([1]) // the rebalance lands while the chunks are written
        owner = opts?.stillOwner?.()
        return owner === false ? undefined : { chunks: 1, bytes: 1, rawBytes: 1 }
      },
    } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async (offsets: { offset: string }[]) => { for (const { offset } of offsets) commits.push(offset) } } as unknown as Consumer,
      producer: { sendBatch: async () => [] }, store, topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 0, now: () => Date.now(),
    })
    runner.onAssignment([0])
    await runner.handler(tickBatch())
    await waitFor(() => (owner !== undefined ? true : undefined), { what: 'the checkpoint' })
    await runner.stopApplying()
    await runner.checkpointAll()
    expect(owner).toBe(false)
    expect(commits).toEqual([])
  })
})

describe('PartitionRunner restoring', () => {
  it('keeps no snapshot it read once its partition is restored, nor any of partitions assigned elsewhere', async () => {
    const stored = (partition: number): StoredState => {
      const snapshot = new CorrelationEngine().snapshot()
      return { inputTopic: 'in', partition, offset: '-1', decode: () => snapshot, decodeSteps: function* () { yield; return snapshot } }
    }
    const loaded = new Map([['in/0', stored(0)], ['in/1', stored(1)], ['in/2', stored(2)]])
    const store = { loadAll: async () => loaded, save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined } as unknown as Consumer, producer: { sendBatch: async () => [] }, store,
      topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
    })
    runner.onAssignment([0, 2])
    await runner.handler(tickBatch())
    expect([...loaded.keys()]).toEqual(['in/2'])
  })
})

describe('PartitionRunner reading snapshots', () => {
  const stored = (partition: number, offset: string): StoredState => {
    const snapshot = new CorrelationEngine().snapshot()
    return { inputTopic: 'in', partition, offset, decode: () => snapshot, decodeSteps: function* () { yield; return snapshot } }
  }
  /** A batch of `partition` at offset 0, its heartbeats recorded in `events`. */
  const batchOf = (partition: number, events: string[] = []) => ({
    batch: { topic: 'in', partition, messages: [{ offset: '0', value: Buffer.from(tick) }] },
    resolveOffset: () => undefined, heartbeat: async () => { events.push('heartbeat') }, isRunning: () => true, isStale: () => false,
  }) as unknown as EachBatchPayload
  const runnerOver = (store: KafkaStateStore) => new PartitionRunner({
    consumer: { commitOffsets: async () => undefined, seek: () => undefined } as unknown as Consumer, producer: { sendBatch: async () => [] }, store,
    topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
  })

  it('does not apply a batch whose restore finished after the shutdown began, nor checkpoint it', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let saves = 0
    const store = {
      loadAll: async () => { await held; return new Map() },
      save: async () => { saves++; return { chunks: 1, bytes: 1, rawBytes: 1 } },
    } as unknown as KafkaStateStore
    let sends = 0
    let commits = 0
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => { commits++ }, seek: () => undefined } as unknown as Consumer, producer: { sendBatch: async () => { sends++; return [] } }, store,
      topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
    })
    runner.onAssignment([0])
    const applying = runner.handler(batchOf(0))
    await new Promise((resolve) => setTimeout(resolve, 5))
    const stopped = runner.stopApplying()
    release()
    await applying
    await stopped
    await runner.checkpointAll()
    // Until 2026-12-06 the batch was applied, its outputs sent, and the shutdown wrote a whole snapshot of it.
    expect({ sends, saves, commits, partitions: runner.partitions }).toEqual({ sends: 0, saves: 0, commits: 0, partitions: [] })
  })

  /** A state topic of no snapshots whose read reports progress `steps` times, writing down when it begins and ends. */
  const storeReading = (events: string[], steps: number, betweenSteps: () => Promise<unknown> = async () => undefined) => ({
    loadAll: async (opts?: { onProgress?: () => Promise<void> }) => {
      events.push('read begins')
      for (let i = 0; i < steps; i++) {
        await betweenSteps()
        await opts?.onProgress?.()
      }
      events.push('read ends')
      return new Map()
    },
    save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }),
  }) as unknown as KafkaStateStore

  it('heartbeats while the state topic is read: a large state takes longer than the session timeout', async () => {
    const events: string[] = []
    const store = storeReading(events, 3, () => new Promise((resolve) => setTimeout(resolve, 5)))
    const runner = runnerOver(store)
    runner.onAssignment([0])
    await runner.handler(batchOf(0, events))
    expect(events.slice(0, 5)).toEqual(['read begins', 'heartbeat', 'heartbeat', 'heartbeat', 'read ends'])
  })

  // As kafkajs 2.2.4's heartbeat fails when the member must rejoin. NOT_COORDINATOR_FOR_GROUP (a broker restart
  // moved the coordinator): passed over, every later heartbeat went to the old broker, the new one evicted the
  // member unheard, and the batch's outputs went out from a member that no longer owned the partition.
  it.each(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION'])('finishes the read when a heartbeat fails meanwhile with %s, keeps it over the rebalance, and fails the batch after', async (type) => {
    let reads = 0
    const loaded = new Map([['in/0', stored(0, '-1')]])
    const store = {
      loadAll: async (opts?: { onProgress?: () => Promise<void> }) => { reads++; await opts?.onProgress?.(); await opts?.onProgress?.(); return loaded },
      save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }),
    } as unknown as KafkaStateStore
    const runner = runnerOver(store)
    runner.onAssignment([0])
    const rebalancing = Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { name: 'KafkaJSProtocolError', type })
    let heartbeats = 0
    const failing = { ...batchOf(0), heartbeat: async () => { heartbeats++; throw rebalancing } } as unknown as EachBatchPayload
    await expect(runner.handler(failing)).rejects.toBe(rebalancing)
    expect(heartbeats).toBe(1)
    runner.onAssignment([0])
    await runner.handler(batchOf(0))
    expect(reads).toBe(1)
    expect(runner.partitions).toEqual([0])
  })

  it('heartbeats on through a long read after a heartbeat failed for another reason than a rebalance (a connection reset)', async () => {
    const events: string[] = []
    // A large state: 40 s of progress, past a session of 30 s.
    const store = storeReading(events, 40)
    const runner = runnerOver(store)
    runner.onAssignment([0])
    let heartbeats = 0
    const payload = {
      ...batchOf(0, events),
      heartbeat: async () => { events.push('heartbeat'); if (heartbeats++ === 0) throw new KafkaJSConnectionError('Connection closed') },
    } as unknown as EachBatchPayload
    await runner.handler(payload)
    // Until 2026-12-06 the first failure ended the heartbeats for the rest of the read, and the member was
    // evicted meanwhile.
    const during = events.slice(events.indexOf('read begins') + 1, events.indexOf('read ends'))
    expect(during).toEqual(Array.from({ length: 40 }, () => 'heartbeat'))
    expect(runner.partitions).toEqual([0])
  })

  it('does not read again the snapshots read before a rebalance that keeps their partitions here', async () => {
    let reads = 0
    const loaded = new Map([['in/0', stored(0, '-1')], ['in/1', stored(1, '-1')], ['in/2', stored(2, '-1')]])
    const store = { loadAll: async () => { reads++; return loaded }, save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = runnerOver(store)
    runner.onAssignment([0, 1, 2])
    await runner.handler(batchOf(0))
    expect(reads).toBe(1)
    // The member kept 0 and 1 and lost 2: only 1's snapshot is still to restore.
    runner.onAssignment([0, 1])
    expect([...loaded.keys()]).toEqual(['in/1'])
    await runner.handler(batchOf(1))
    expect(reads).toBe(1)
    expect([...loaded.keys()]).toEqual([])
    expect(runner.partitions.sort()).toEqual([0, 1])
  })

  it('reads afresh for a partition newly assigned: another member may have written its snapshot since', async () => {
    let reads = 0
    const store = { loadAll: async () => { reads++; return new Map([['in/0', stored(0, '-1')], ['in/1', stored(1, '-1')]]) }, save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = runnerOver(store)
    runner.onAssignment([0])
    await runner.handler(batchOf(0))
    runner.onAssignment([0, 1])
    await runner.handler(batchOf(1))
    expect(reads).toBe(2)
  })

  it.each([
    ['assigned while it read', [0], [0, 1], [0, 1]],
    ['revoked while it read and assigned again', [0, 1], [0], [0, 1]],
  ] as const)('asks only for the partitions assigned, and reads afresh for one %s', async (_name, before, during, after) => {
    const asked: (string[] | undefined)[] = []
    const onTopic = new Map([['in/0', stored(0, '-1')], ['in/1', stored(1, '-1')]])
    const store = {
      loadAll: async (opts?: { partitionKeys?: ReadonlySet<string> }) => {
        asked.push(opts?.partitionKeys && [...opts.partitionKeys])
        // A rebalance during the (long) first read.
        if (asked.length === 1) runner.onAssignment([...during])
        return new Map([...onTopic].filter(([key]) => !opts?.partitionKeys || opts.partitionKeys.has(key)))
      },
      save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }),
    } as unknown as KafkaStateStore
    const runner = runnerOver(store)
    runner.onAssignment([...before])
    await runner.handler(batchOf(0))
    runner.onAssignment([...after])
    await runner.handler(batchOf(1))
    expect(asked).toEqual([before.map((p) => `in/${p}`), ['in/0', 'in/1']])
  })
})

describe('PartitionRunner sending outputs', () => {
  it('heartbeats before each request of a batch too large for one (each may take the send timeout), the first too', async () => {
    const events: string[] = []
    const poison = (offset: string) => ({ offset, value: Buffer.from(`not json ${'x'.repeat(700 * 1024)}`) })
    const payload = {
      batch: { topic: 'in', partition: 0, messages: [poison('0'), poison('1')] },
      resolveOffset: () => undefined, heartbeat: async () => { events.push('heartbeat') }, isRunning: () => true, isStale: () => false,
    } as unknown as EachBatchPayload
    const store = { loadAll: async () => new Map(), save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined } as unknown as Consumer, producer: { sendBatch: async () => { events.push('send'); return [] } }, store,
      topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
    })
    await runner.handler(payload)
    expect(events.slice(0, 4)).toEqual(['heartbeat', 'send', 'heartbeat', 'send'])
  })

  describe('a heartbeat failing before the send', () => {
    const groupError = (type: string) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type })
    const run = async (type: string) => {
      const events: string[] = []
      const payload = {
        batch: { topic: 'in', partition: 0, messages: [{ offset: '0', value: Buffer.from('not json') }] },
        resolveOffset: () => undefined, heartbeat: async () => { events.push('heartbeat'); throw groupError(type) }, isRunning: () => true, isStale: () => false,
      } as unknown as EachBatchPayload
      const store = { loadAll: async () => new Map(), save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
      const { logger, lines } = captureLogs()
      const runner = new PartitionRunner({
        consumer: { commitOffsets: async () => undefined } as unknown as Consumer, producer: { sendBatch: async () => { events.push('send'); return [] } }, store,
        topics, engineConfig: {}, logStartOf: logStartAtZero, logger, snapshotIntervalMs: 60_000, now: () => 0,
      })
      const outcome = await runner.handler(payload).then(() => 'done', (err: { type?: string }) => err.type)
      return { events, outcome, partitions: runner.partitions, drops: lines.filter((l) => String(l.msg).startsWith('partition engine dropped')).map((l) => l.why) }
    }

    it('in a rebalance, sends all the same and keeps its engine: the member owns the partition until it rejoins, which the heartbeat after the batch leads to', async () => {
      expect(await run('REBALANCE_IN_PROGRESS')).toEqual({ events: ['heartbeat', 'send', 'heartbeat'], outcome: 'REBALANCE_IN_PROGRESS', partitions: [0], drops: [] })
    })

    it.each(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION'])('evicted (%s), sends nothing and drops the engine, which got ahead of the topics', async (type) => {
      expect(await run(type)).toEqual({ events: ['heartbeat'], outcome: type, partitions: [], drops: ['the group went on without this member while it held the batch'] })
    })
  })
})

describe('PartitionRunner continuing a restored engine', () => {
  const at = (minute: number) => new Date(Date.parse('2026-12-03T00:00:00.000Z') + minute * 60_000).toISOString()
  const alert = (status: 'firing' | 'resolved', minute: number) => JSON.stringify({
    type: 'alert', event: {
      id: `checkout-${status}`, source: 'pingdom', fingerprint: 'checkout', status, severity: 'critical', service: 'checkout', environment: 'production',
      title: 'Checkout down', labels: { alertname: 'CheckoutDown', service: 'checkout' }, startsAt: at(0), ...(status === 'resolved' ? { endsAt: at(minute) } : {}),
      receivedAt: at(minute), links: [], origin: {},
    },
  })
  const tickAt = (minute: number) => JSON.stringify({ type: 'tick', at: at(minute) })
  /** A batch of partition 0 from `offset` on, of a consumer that runs while `running()` says so. */
  /** `logEnd`: the partition's high watermark at the fetch, by default just after the batch. */
  const batchAt = (offset: number, values: string[], running: () => boolean = () => true, resolved: string[] = [], logEnd = offset + values.length) => ({
    batch: { topic: 'in', partition: 0, highWatermark: String(logEnd), messages: values.map((v, i) => ({ offset: String(offset + i), value: Buffer.from(v) })) },
    resolveOffset: (o: string) => resolved.push(o), heartbeat: async () => undefined, isRunning: running, isStale: () => false,
  }) as unknown as EachBatchPayload
  /** What the state topic holds for partition 0: a snapshot (of an engine with nothing applied) said to include offsets up to `offset`. */
  const snapshotAt = (offset: string) => {
    const snapshot = new CorrelationEngine().snapshot()
    return new Map<string, StoredState>([['in/0', { inputTopic: 'in', partition: 0, offset, decode: () => snapshot, decodeSteps: function* () { yield; return snapshot } }]])
  }
  function setUp(opts: { logStart?: string; logStartOf?: () => Promise<string>; loadAll?: () => Promise<Map<string, StoredState>>; sendBatch?: (req: { topicMessages: { topic: string; messages: unknown[] }[] }) => Promise<void> } = {}) {
    const seeks: string[] = []
    const applied: number[] = []
    const sent: string[] = []
    let loads = 0
    const store = { loadAll: async () => { loads++; return opts.loadAll ? opts.loadAll() : new Map() }, save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined, seek: ({ offset }: { offset: string }) => { seeks.push(offset) } } as unknown as Consumer,
      producer: {
        sendBatch: async (req: { topicMessages: { topic: string; messages: unknown[] }[] }) => {
          await opts.sendBatch?.(req)
          for (const t of req.topicMessages) for (const m of t.messages as { value: string }[]) sent.push(`${t.topic}:${(JSON.parse(m.value) as { status?: string }).status}`)
          return []
        },
      } as unknown as Pick<Producer, 'sendBatch'>,
      store, topics, engineConfig: {}, logStartOf: opts.logStartOf ?? (async () => opts.logStart ?? '0'), logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
      onApplied: (inputs) => applied.push(inputs),
    })
    runner.onAssignment([0])
    return { runner, seeks, applied, sent, loads: () => loads }
  }

  it('stops, keeping its snapshot, when the runtime refuses the room to restore it; replays one whose bad number gives an invalid length', async () => {
    const failing = (err: Error) => async () => new Map<string, StoredState>([['in/0', {
      inputTopic: 'in', partition: 0, offset: '20', decode: () => { throw err }, decodeSteps: function* () { yield; throw err },
    }]])
    // A replay would soon checkpoint an engine of the retained log alone over the good snapshot.
    const refused = setUp({ loadAll: failing(new RangeError('Array buffer allocation failed')) })
    await expect(refused.runner.handler(batchAt(21, [tickAt(21)]))).rejects.toBeInstanceOf(EngineCapacityError)
    expect(refused.seeks).toEqual([])
    const corrupt = setUp({ loadAll: failing(new RangeError('Invalid array length')) })
    await corrupt.runner.handler(batchAt(21, [tickAt(21)]))
    expect(corrupt.seeks).toEqual(['0'])
  })

  it('applies no batch that starts past the record after its snapshot, however often one comes: a batch fetched before the seek took effect comes after it', async () => {
    const r = setUp()
    const resolved: string[] = []
    await r.runner.handler(batchAt(3, [tickAt(3)], () => true, resolved))
    expect(r.seeks).toEqual(['0'])
    // The same batch again, fetched from the node that led the partition before: a gap of three records.
    await r.runner.handler(batchAt(3, [tickAt(3)], () => true, resolved))
    expect(r.seeks).toEqual(['0', '0'])
    expect(r.applied).toEqual([])
    expect(resolved).toEqual([])
    await r.runner.handler(batchAt(0, [tickAt(0), tickAt(1), tickAt(2), tickAt(3)], () => true, resolved))
    expect(r.applied).toEqual([4])
    expect(resolved).toEqual(['3'])
  })

  it('starts where the log starts when retention removed the records after its snapshot', async () => {
    const r = setUp({ logStart: '5' })
    await r.runner.handler(batchAt(7, [tickAt(7)]))
    expect(r.seeks).toEqual(['5'])
    await r.runner.handler(batchAt(5, [tickAt(5), tickAt(6), tickAt(7)]))
    expect(r.seeks).toEqual(['5'])
    expect(r.applied).toEqual([3])
  })

  it('seeks back to the record after its snapshot, not to the log start before it', async () => {
    const r = setUp({ logStart: '5', loadAll: async () => snapshotAt('9') })
    await r.runner.handler(batchAt(12, [tickAt(12)]))
    expect(r.seeks).toEqual(['10'])
    await r.runner.handler(batchAt(10, [tickAt(10), tickAt(11), tickAt(12)]))
    expect(r.applied).toEqual([3])
  })

  it('heartbeats while the log start is asked: the admin can take long while a broker is down', async () => {
    const r = setUp({ logStartOf: () => new Promise((resolve) => setTimeout(() => resolve('0'), 1_300)) })
    let heartbeats = 0
    await r.runner.handler({ ...batchAt(3, [tickAt(3)]), heartbeat: async () => { heartbeats++ } } as unknown as EachBatchPayload)
    expect(r.seeks).toEqual(['0'])
    expect(heartbeats).toBeGreaterThanOrEqual(1)
  })

  it('keeps the snapshot of a restore whose batch ended meanwhile, and restores the next batch from it', async () => {
    let running = true
    const r = setUp({ loadAll: async () => { running = false; return snapshotAt('9') } })
    await r.runner.handler(batchAt(12, [tickAt(12)], () => running))
    expect(r.seeks).toEqual([])
    expect(r.runner.partitions).toEqual([])
    await r.runner.handler(batchAt(12, [tickAt(12)]))
    expect(r.loads()).toBe(1)
    expect(r.seeks).toEqual(['10'])
  })

  /** A gate the stopped consumer's batch waits at: `release` opens it. */
  function gated() {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    return { gate, release }
  }
  /**
   * The firing at offset 0 sent by a consumer's batch that waits (`started` says it reached the gate); then
   * kafkajs crashes that consumer and restarts it, and the successor's first batch runs, firing and tick.
   * Returns the old batch, still running (wrapped: an async function returning it would wait for it).
   */
  async function crashWhileWaiting(r: ReturnType<typeof setUp>, started: () => boolean): Promise<{ old: Promise<void> }> {
    let oldRunning = true
    const old = r.runner.handler(batchAt(0, [alert('firing', 0)], () => oldRunning))
    await waitFor(() => (started() ? true : undefined), { what: 'the old batch at its gate' })
    oldRunning = false
    r.runner.onAssignment([])
    r.runner.onAssignment([0])
    await r.runner.handler(batchAt(0, [alert('firing', 0), tickAt(1)]))
    return { old }
  }

  it("does not install what a stopped consumer's batch restored meanwhile over its successor's engine", async () => {
    const { gate, release } = gated()
    let reads = 0
    const r = setUp({ loadAll: async () => { if (reads++ === 0) await gate; return new Map() } })
    const { old } = await crashWhileWaiting(r, () => reads === 1)
    expect(r.sent).toEqual(['i:open'])
    release()
    await old
    // The successor goes on with its own engine, which has the firing: the resolve resolves its incident (an
    // engine without it would only note an early resolve: Pingdom's resolves carry no start).
    await r.runner.handler(batchAt(2, [alert('resolved', 30), tickAt(60)]))
    expect(r.seeks).toEqual([])
    expect(r.sent).toEqual(['i:open', 'i:resolved'])
  })

  it("does not drop its successor's engine when a stopped consumer's batch fails to send", async () => {
    const { gate, release } = gated()
    let sends = 0
    const r = setUp({ sendBatch: async () => { if (sends++ === 0) { await gate; throw new KafkaJSConnectionError('Connection closed') } } })
    const { old } = await crashWhileWaiting(r, () => sends === 1)
    release()
    await expect(old).rejects.toThrow('Connection closed')
    await r.runner.handler(batchAt(2, [alert('resolved', 30), tickAt(60)]))
    expect(r.loads()).toBe(2)
    expect(r.seeks).toEqual([])
    expect(r.sent).toEqual(['i:open', 'i:resolved'])
  })

  it.each([
    // SIGKILL between the manifest and its commit, or a commit refused after an eviction: the group reads on from before the snapshot.
    ['commits its snapshot when the group position shows the commit of it never landed, though no new input comes', 3, ['6']],
    ['commits nothing when the group already committed past the snapshot', 6, []],
  ])('a restored engine %s', async (_what, from, expected) => {
    const commits: string[] = []
    const snapshot = new CorrelationEngine().snapshot()
    const store = {
      loadAll: async () => new Map<string, StoredState>([['in/0', { inputTopic: 'in', partition: 0, offset: '5', decode: () => snapshot, decodeSteps: function* () { yield; return snapshot } }]]),
      save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }),
    } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async (offsets: { offset: string }[]) => { for (const o of offsets) commits.push(o.offset) }, seek: () => undefined } as unknown as Consumer,
      producer: { sendBatch: async () => [] }, store, topics, engineConfig: {}, logStartOf: logStartAtZero,
      logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => Date.now(),
    })
    runner.onAssignment([0])
    const ticks = Array.from({ length: 6 - from }, (_, i) => ({ offset: String(from + i), value: Buffer.from(tick) }))
    await runner.handler({
      batch: { topic: 'in', partition: 0, highWatermark: '6', messages: ticks },
      resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    } as unknown as EachBatchPayload)
    // An idle partition: no further batch comes. The shutdown's checkpoint is the last chance.
    await runner.stopApplying()
    await runner.checkpointAll()
    expect(commits).toEqual(expected)
  })

  it('skips the records it applied when a rejoin reads them again from the last commit', async () => {
    const r = setUp()
    await r.runner.handler(batchAt(0, [tickAt(0), tickAt(1), tickAt(2), tickAt(3)]))
    const resolved: string[] = []
    await r.runner.handler(batchAt(2, [tickAt(2), tickAt(3), tickAt(4)], () => true, resolved))
    expect(r.applied).toEqual([4, 1])
    expect(resolved).toEqual(['4'])
  })

  it('applies a log made anew (the topic deleted and created again) whose offsets start below what it applied, instead of skipping them as applied', async () => {
    const r = setUp()
    await r.runner.handler(batchAt(0, Array.from({ length: 101 }, (_, i) => tickAt(i))))
    const resolved: string[] = []
    await r.runner.handler(batchAt(0, [alert('firing', 200), tickAt(201), tickAt(202)], () => true, resolved))
    expect(r.applied).toEqual([101, 3])
    expect(r.sent).toContain(`${topics.incidents}:open`)
    expect(resolved).toEqual(['2'])
    // And the next batch of the new log goes on from there.
    await r.runner.handler(batchAt(3, [tickAt(203)]))
    expect(r.applied).toEqual([101, 3, 1])
  })

  it('applies a log made anew from its start when restored from a snapshot of the old one at a later offset', async () => {
    const r = setUp({ loadAll: async () => snapshotAt('100') })
    const resolved: string[] = []
    await r.runner.handler(batchAt(0, [alert('firing', 0), tickAt(1), tickAt(2)], () => true, resolved))
    expect(r.seeks).toEqual([])
    expect(r.applied).toEqual([3])
    expect(resolved).toEqual(['2'])
  })

  describe('checkpointing a log made anew', () => {
    /**
     * The state topic and the group's commits in memory: `loadAll` gives the latest snapshot saved, a save
     * waits for `saveGate` (when set) and fails while `failSaves` says so, a commit while `failCommits` does.
     */
    function kafkaInMemory() {
      let latest: { offset: string; snapshot: unknown } | undefined
      const k = {
        saves: [] as string[], commits: [] as string[], failSaves: false, failCommits: false, saveGate: undefined as Promise<void> | undefined,
        store: {
          loadAll: async () => {
            const s = latest
            if (!s) return new Map()
            return new Map([['in/0', { inputTopic: 'in', partition: 0, offset: s.offset, decode: () => s.snapshot, decodeSteps: function* () { yield; return s.snapshot } }]])
          },
          save: async (state: { offset: string; snapshot: unknown }) => {
            await k.saveGate
            if (k.failSaves) throw new KafkaJSConnectionError('Connection closed')
            latest = state
            k.saves.push(state.offset)
            return { chunks: 1, bytes: 1, rawBytes: 1 }
          },
        } as unknown as KafkaStateStore,
      }
      return k
    }
    /** A runner on `k`, its monotonic clock `clock.t`, checkpointing once a second at the most; what it sent in `sent`. */
    function runnerOn(k: ReturnType<typeof kafkaInMemory>, clock: { t: number }, opts: Partial<PartitionRunnerOptions> = {}) {
      const sent: string[] = []
      const commitOffsets = async (offsets: { offset: string }[]) => {
        if (k.failCommits) throw new KafkaJSConnectionError('Connection closed')
        for (const { offset } of offsets) k.commits.push(offset)
      }
      const runner = new PartitionRunner({
        consumer: { commitOffsets, seek: () => undefined } as unknown as Consumer,
        producer: {
          sendBatch: async (req: { topicMessages: { topic: string; messages: { value: string }[] }[] }) => {
            for (const t of req.topicMessages) for (const m of t.messages) sent.push(`${t.topic}:${(JSON.parse(m.value) as { status?: string }).status}`)
            return []
          },
        } as unknown as Pick<Producer, 'sendBatch'>,
        store: k.store, topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 1000, now: () => Date.now(), monotonicMs: () => clock.t, ...opts,
      })
      runner.onAssignment([0])
      return { runner, sent }
    }
    /** The old log, ticks at offsets 0 to 5, checkpointed at 5 and committed; then its topic is made anew. */
    async function oldLogCheckpointedAt5(k: ReturnType<typeof kafkaInMemory>, clock: { t: number }, runner: PartitionRunner) {
      await runner.handler(batchAt(0, [0, 1, 2, 3, 4].map(tickAt)))
      clock.t = 2000
      await runner.handler(batchAt(5, [tickAt(5)]))
      if (!k.saveGate && !k.failCommits) await waitFor(() => (k.commits.length > 0 ? true : undefined), { what: 'the old log checkpointed' })
    }
    const firstOfNewLog = () => batchAt(0, [alert('firing', 10), tickAt(11), tickAt(12)])
    const newLogTo5 = () => batchAt(3, [tickAt(13), tickAt(14), tickAt(15)])

    it('checkpoints it after its first batch, so that a restart goes on with the new log\'s state, not the old one\'s', async () => {
      const k = kafkaInMemory()
      const clock = { t: 0 }
      const a = runnerOn(k, clock)
      await oldLogCheckpointedAt5(k, clock, a.runner)
      // Within the second after the old log's checkpoint: only the log starting over makes one due.
      clock.t = 2500
      await a.runner.handler(firstOfNewLog())
      await waitFor(() => (k.commits.length > 1 ? true : undefined), { timeoutMs: 1000, what: 'the new log checkpointed' })
      expect({ saves: k.saves, commits: k.commits }).toEqual({ saves: ['5', '2'], commits: ['6', '3'] })
      clock.t = 4000
      await a.runner.handler(newLogTo5())
      await waitFor(() => (k.commits.length > 2 ? true : undefined), { timeoutMs: 1000, what: 'the new log checkpointed at 5' })
      expect({ saves: k.saves, commits: k.commits }).toEqual({ saves: ['5', '2', '5'], commits: ['6', '3', '6'] })

      // Killed: the successor restores the latest snapshot and is handed the commit. Until 2026-12-06 those
      // were still the old log's (offset 5 of the new log looked saved), and the successor, without the firing
      // at offset 0 of the new log, could not resolve its incident.
      const b = runnerOn(k, clock)
      await b.runner.handler(batchAt(6, [alert('resolved', 40), tickAt(60)]))
      expect(b.sent).toContain(`${topics.incidents}:resolved`)
    })

    it('saves and commits it at shutdown when it reached the old snapshot\'s offset, its own first checkpoint having failed', async () => {
      const k = kafkaInMemory()
      const clock = { t: 0 }
      const a = runnerOn(k, clock)
      await oldLogCheckpointedAt5(k, clock, a.runner)
      k.failSaves = true
      clock.t = 2500
      await a.runner.handler(firstOfNewLog())
      k.failSaves = false
      clock.t = 2600
      await a.runner.handler(newLogTo5())
      await a.runner.stopApplying()
      await a.runner.checkpointAll()
      // Offset 5 of the new log is not the old log's 5: skipped as saved, the restart restored the old state.
      expect({ saves: k.saves, commits: k.commits }).toEqual({ saves: ['5', '5'], commits: ['6', '6'] })
    })

    it('counts for nothing a checkpoint of the old log still being written when the log starts over', async () => {
      const { logger, lines } = captureLogs()
      const k = kafkaInMemory()
      let release!: () => void
      k.saveGate = new Promise((resolve) => { release = resolve })
      const clock = { t: 0 }
      const a = runnerOn(k, clock, { logger })
      await oldLogCheckpointedAt5(k, clock, a.runner)
      clock.t = 2500
      await a.runner.handler(firstOfNewLog())
      clock.t = 2600
      await a.runner.handler(newLogTo5())
      k.saveGate = undefined
      release()
      await a.runner.stopApplying()
      await a.runner.checkpointAll()
      // The old log's snapshot at 5 landed after the new log started over: counted, it made the new log's 5
      // look saved, and its commit (6) skipped the new log's records up to there after a restart.
      expect({ saves: k.saves, commits: k.commits }).toEqual({ saves: ['5', '5'], commits: ['6'] })
      expect(lines.filter((l) => l.msg === 'checkpoint of the input log before it started over: not counted, not committed')).toMatchObject([{ offset: '5' }])
    })

    it('stops committing the old log\'s snapshot once the log starts over', async () => {
      const k = kafkaInMemory()
      k.failCommits = true
      let retry!: () => void
      const backOffs: number[] = []
      const clock = { t: 0 }
      const a = runnerOn(k, clock, { sleep: (ms) => { backOffs.push(ms); return new Promise((resolve) => { retry = resolve }) } })
      await oldLogCheckpointedAt5(k, clock, a.runner)
      await waitFor(() => (backOffs.length > 0 ? true : undefined), { what: 'the commit waiting to be tried again' })
      clock.t = 2500
      await a.runner.handler(firstOfNewLog())
      k.failCommits = false
      retry()
      // Not stopping first: that ends the retries as well. checkpointAll waits for the one in progress.
      await a.runner.checkpointAll()
      // 6 is past the new log's records at 0 to 2: committed, a restart before the next checkpoint skipped them.
      expect({ saves: k.saves, commits: k.commits }).toEqual({ saves: ['5', '2'], commits: ['3'] })
    })
  })
})

describe('logStartFrom', () => {
  const admin = (answer: () => Promise<{ partition: number; offset: string; high: string; low: string }[]>) => ({ fetchTopicOffsets: answer }) as never
  it("is the partition's low watermark, not its end", async () => {
    const start = logStartFrom(admin(async () => [{ partition: 0, offset: '9', high: '9', low: '2' }, { partition: 1, offset: '7', high: '7', low: '5' }]))
    expect(await start('in', 1)).toBe('5')
  })

  it('fails as Kafka unavailable for a partition the metadata does not know yet, and when the answer does not come in time', async () => {
    await expect(logStartFrom(admin(async () => [{ partition: 0, offset: '9', high: '9', low: '2' }]))('in', 3)).rejects.toBeInstanceOf(KafkaUnavailableError)
    await expect(logStartFrom(admin(() => new Promise(() => undefined)), { timeoutMs: 50 })('in', 0)).rejects.toBeInstanceOf(KafkaUnavailableError)
  })
})

describe('PartitionRunner sending a batch', () => {
  const alert = (fingerprint: string, minute: number) => JSON.stringify({
    type: 'alert',
    event: {
      id: `${fingerprint}-firing`, source: 'alertmanager', fingerprint, status: 'firing', severity: 'critical', service: 'checkout', environment: 'production',
      title: `${fingerprint} on checkout`, labels: { alertname: fingerprint }, startsAt: `2026-12-03T00:0${minute}:00.000Z`,
      receivedAt: `2026-12-03T00:0${minute}:00.000Z`, links: [], origin: {},
    },
  })

  it('sends each incident once per batch, as the batch left it, and a poison record between its alerts to the dead-letter topic', async () => {
    const sent: { topic: string; messages: { key: string; value: string }[] }[][] = []
    const store = { loadAll: async () => new Map(), save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined } as unknown as Consumer,
      producer: { sendBatch: async ({ topicMessages }) => { sent.push(topicMessages as never); return [] } },
      store, topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
    })
    const values = [alert('HighLatency', 1), alert('ErrorRate', 2), '{not json', alert('PodCrashLooping', 3)]
    await runner.handler({
      batch: { topic: 'in', partition: 0, messages: values.map((v, i) => ({ offset: String(i), value: Buffer.from(v) })) },
      resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    } as unknown as EachBatchPayload)

    const messages = sent.flat()
    const incidents = messages.filter((t) => t.topic === topics.incidents).flatMap((t) => t.messages)
    expect(incidents).toHaveLength(1)
    const incident = JSON.parse(incidents[0]!.value) as { version: number; alertCount: number }
    expect(incident).toMatchObject({ version: 3, alertCount: 3 })
    expect(messages.filter((t) => t.topic === topics.deadLetter).flatMap((t) => t.messages)).toHaveLength(1)
  })

  it('stops at an engine at a limit of the runtime: no dead letter for that input or any after, nothing resolved or sent', async () => {
    const sent: string[] = []
    const resolved: string[] = []
    const deadLetters: string[] = []
    const store = { loadAll: async () => new Map(), save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined } as unknown as Consumer,
      producer: { sendBatch: async ({ topicMessages }) => { sent.push(...(topicMessages ?? []).map((m) => m.topic)); return [] } },
      store, topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
      onDeadLetter: (reason) => deadLetters.push(reason),
    })
    // The table of alert tracks refuses the alert `Full` as V8 refuses a Map its 2^24th entry.
    const set = Map.prototype.set
    const spy = vi.spyOn(Map.prototype, 'set').mockImplementation(function (this: Map<unknown, unknown>, key: unknown, value: unknown) {
      if (key === 'alertmanager:Full') throw new RangeError('Map maximum size exceeded')
      return set.call(this, key, value)
    })
    onTestFinished(() => spy.mockRestore())
    const values = [alert('HighLatency', 1), alert('Full', 2), alert('PodCrashLooping', 3)]
    const batch = () => ({
      batch: { topic: 'in', partition: 0, messages: values.map((v, i) => ({ offset: String(i), value: Buffer.from(v) })) },
      resolveOffset: (o: string) => resolved.push(o), heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    }) as unknown as EachBatchPayload
    await expect(runner.handler(batch())).rejects.toThrow(EngineCapacityError)
    // Fetched again (a restart replays it): the same stop, from an engine restored afresh.
    await expect(runner.handler(batch())).rejects.toMatchObject({ code: 'ENGINE_CAPACITY', retriable: false })
    expect({ sent, resolved, deadLetters }).toEqual({ sent: [], resolved: [], deadLetters: [] })
    expect(classifyFailure(new EngineCapacityError(new RangeError('Map maximum size exceeded'))).retriable).toBe(false)
  })

  it('drops the engine when the limit meets the first input of a batch: it is half-changed all the same', async () => {
    let reads = 0
    const store = { loadAll: async () => { reads++; return new Map() }, save: async () => ({ chunks: 1, bytes: 1, rawBytes: 1 }) } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: { commitOffsets: async () => undefined } as unknown as Consumer, producer: { sendBatch: async () => [] },
      store, topics, engineConfig: {}, logStartOf: logStartAtZero, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
    })
    const batch = (values: string[], from: number) => ({
      batch: { topic: 'in', partition: 0, messages: values.map((v, i) => ({ offset: String(from + i), value: Buffer.from(v) })) },
      resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    }) as unknown as EachBatchPayload
    await runner.handler(batch([alert('HighLatency', 1)], 0))
    expect({ partitions: runner.partitions, reads }).toEqual({ partitions: [0], reads: 1 })
    const set = Map.prototype.set
    const spy = vi.spyOn(Map.prototype, 'set').mockImplementation(function (this: Map<unknown, unknown>, key: unknown, value: unknown) {
      if (key === 'alertmanager:Full') throw new RangeError('Map maximum size exceeded')
      return set.call(this, key, value)
    })
    onTestFinished(() => spy.mockRestore())
    await expect(runner.handler(batch([alert('Full', 2), alert('ErrorRate', 3)], 1))).rejects.toThrow(EngineCapacityError)
    expect(runner.partitions).toEqual([])
  })
})
