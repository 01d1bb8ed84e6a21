import type { Admin, Consumer } from 'kafkajs'
import type { Logger } from 'pino'

/**
 * Truthful health for a Kafka consumer group member: lag against the end offsets the broker reports (not
 * the high watermark of the last batch, which stops moving when the consumer stops fetching), the age of
 * the oldest record not yet durable, and whether it has stalled (has lag and made no progress for
 * `stallAfterMs`). `ConsumerHealth` is the pure part: it is told what happened and when, and answers
 * snapshots. `ConsumerHealthMonitor` feeds it from the broker and the consumer's group events.
 */

/** One partition as the health snapshot sees it. */
export interface PartitionHealth {
  topic: string
  partition: number
  /** The next offset to process: the furthest of what the consumer says is durable and what the group committed. */
  position: string | null
  /** The end offset the broker last reported (or a batch's high watermark, whichever is further). */
  end: string | null
  /** Records between `position` (or the log start, when retention removed what is before) and `end`. */
  lag: number
  /** Age of the oldest record not yet durable; 0 when caught up. */
  oldestUnprocessedAgeSeconds: number
  /** Seconds since the position last moved, or since work appeared after an idle spell, whichever is later. */
  noProgressForSeconds: number
  stalled: boolean
}

export interface ConsumerHealthSnapshot {
  group: string
  /** Whether any assigned partition has stalled. */
  stalled: boolean
  stallAfterSeconds: number
  partitions: PartitionHealth[]
}

export interface ConsumerHealthOptions {
  group: string
  /** A partition with lag whose position has not moved for this long is stalled (60 s). */
  stallAfterMs?: number
  /**
   * Where a partition with no committed offset starts: the log start (true, the default) or its end at
   * the first look (a consumer subscribed with `fromBeginning: false`).
   */
  fromBeginning?: boolean
  /**
   * The wall clock, ms since the epoch, for the oldest record's age: it is compared with record timestamps
   * (the producer's dates). The module never reads a clock itself.
   */
  now: () => number
  /**
   * A monotonic clock (ms, `performance.now` in the monitor), for how long a partition has made no
   * progress (`noProgressForSeconds`, `stalled`). Not `now`: a step of the wall clock (NTP) would count in
   * it, an hour forward reporting a stall at once (readiness 503, the alert), an hour back hiding one for the hour.
   */
  elapsed: () => number
}

/** What the consumer saw of one fetched range: its first and last offsets and the first record's timestamp. */
export interface FetchedRange {
  firstOffset: string
  lastOffset: string
  /** The first record's timestamp, ms since the epoch (kafkajs gives it as a string). */
  timestamp: string | number
}

interface Fetched {
  first: bigint
  last: bigint
  at: number
}

interface EndSeen {
  end: bigint
  /** When it was seen on the wall clock (`now`): dates the oldest waiting record when none was fetched. */
  at: number
  /** When it was seen on the monotonic clock (`elapsed`): since when work waits, for the stall. */
  elapsed: number
}

interface PartitionState {
  topic: string
  partition: number
  /** Set from `processed` and the group's committed offsets; null until either is known. */
  position: bigint | null
  low: bigint | null
  /** The end the broker last listed (admin `fetchTopicOffsets`): never lower on the same log (KIP-207). */
  listedEnd: bigint | null
  /** End offsets in the order they were seen, each with when: the first one past the position says since when work waits. */
  ends: EndSeen[]
  /** Ranges handed to the consumer and not yet behind the position. */
  fetched: Fetched[]
  /** When the position last moved (or the partition was taken on, or work appeared after an idle spell), on the monotonic clock (`elapsed`). */
  lastProgressAt: number
}

/** Enough end observations to date the oldest waiting record to within a poll or two over a long stall. */
const MAX_END_OBSERVATIONS = 256
const MAX_FETCHED = 4096

/**
 * The pure tracker. Tell it which partitions this member is assigned (`assigned`), what the broker says
 * (`endOffsets`, `committed`), what the consumer fetched (`fetched`) and made durable (`processed`); ask it
 * for a `snapshot`. Offsets are Kafka's strings; times are milliseconds from the injected clocks: how long
 * nothing moved on the monotonic one (`elapsed`), how old a record is on the wall one (`now`).
 */
export class ConsumerHealth {
  readonly group: string
  readonly stallAfterMs: number
  readonly #fromBeginning: boolean
  readonly #now: () => number
  readonly #elapsed: () => number
  readonly #partitions = new Map<string, PartitionState>()

  constructor(opts: ConsumerHealthOptions) {
    this.group = opts.group
    this.stallAfterMs = opts.stallAfterMs ?? 60_000
    this.#fromBeginning = opts.fromBeginning ?? true
    this.#now = opts.now
    this.#elapsed = opts.elapsed
  }

  /** The partitions this member owns now (a group join's `memberAssignment`); others are forgotten. */
  assigned(assignment: Readonly<Record<string, readonly number[]>>): void {
    const keep = new Set<string>()
    const elapsed = this.#elapsed()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const key = keyOf(topic, partition)
        keep.add(key)
        if (!this.#partitions.has(key)) this.#partitions.set(key, { topic, partition, position: null, low: null, listedEnd: null, ends: [], fetched: [], lastProgressAt: elapsed })
      }
    }
    for (const key of [...this.#partitions.keys()]) if (!keep.has(key)) this.#partitions.delete(key)
  }

  /** Topics and partitions tracked now. */
  get assignment(): Record<string, number[]> {
    const out: Record<string, number[]> = {}
    for (const s of this.#partitions.values()) (out[s.topic] ??= []).push(s.partition)
    return out
  }

  /** The broker's offsets of a topic (admin `fetchTopicOffsets`), or one partition's high watermark from a batch. */
  endOffsets(topic: string, offsets: readonly { partition: number; high: string; low?: string }[]): void {
    const now = this.#now()
    const elapsed = this.#elapsed()
    for (const o of offsets) {
      const s = this.#partitions.get(keyOf(topic, o.partition))
      if (!s) continue
      const end = BigInt(o.high)
      if (o.low !== undefined) {
        // A listed end below the last one: the topic was deleted and created again (or truncated). What was
        // durable belongs to the old log; left, it hid the new log's lag until the new log passed it.
        if (s.listedEnd !== null && end < s.listedEnd) this.#newLog(s)
        s.listedEnd = end
        s.low = BigInt(o.low)
      }
      if (s.position === null && !this.#fromBeginning) s.position = end
      const last = s.ends.at(-1)
      if (last && end <= last.end) continue
      // Work appears after an idle spell: the stall clock starts now, not at the last progress long ago.
      if (!this.#hasLag(s)) s.lastProgressAt = Math.max(s.lastProgressAt, elapsed)
      s.ends.push({ end, at: now, elapsed })
      if (s.ends.length > MAX_END_OBSERVATIONS) thin(s.ends)
    }
  }

  /**
   * The group's committed offsets (admin `fetchOffsets`); -1 means none. They only ever move the position
   * forward; one past the end last listed is the old log's (the group commits on a new log only once its
   * consumer reads it), and is left out.
   */
  committed(topic: string, offsets: readonly { partition: number; offset: string }[]): void {
    for (const o of offsets) {
      const offset = BigInt(o.offset)
      const listed = this.#partitions.get(keyOf(topic, o.partition))?.listedEnd ?? null
      if (offset >= 0n && (listed === null || offset <= listed)) this.processed(topic, o.partition, o.offset)
    }
  }

  /** Starts a partition over on a new log: no position, nothing fetched or seen of it yet. */
  #newLog(s: PartitionState): void {
    s.position = null
    s.ends = []
    s.fetched = []
    s.lastProgressAt = this.#elapsed()
  }

  /** The consumer took these records (one call per batch or slice is enough). */
  fetched(topic: string, partition: number, range: FetchedRange): void {
    const s = this.#partitions.get(keyOf(topic, partition))
    if (!s) return
    const first = BigInt(range.firstOffset)
    const last = BigInt(range.lastOffset)
    if (s.position !== null && last < s.position) return
    const prev = s.fetched.at(-1)
    // Read again after a rebalance: what is known of those offsets stays.
    if (prev && first <= prev.last) return
    s.fetched.push({ first, last, at: Number(range.timestamp) })
    if (s.fetched.length > MAX_FETCHED) s.fetched.splice(1, 1)
  }

  /** Everything before `nextOffset` is durable (processed and committed, or about to be). */
  processed(topic: string, partition: number, nextOffset: string): void {
    const s = this.#partitions.get(keyOf(topic, partition))
    if (!s) return
    const next = BigInt(nextOffset)
    if (s.position !== null && next <= s.position) return
    s.position = next
    s.lastProgressAt = this.#elapsed()
    while (s.fetched.length > 0 && s.fetched[0]!.last < next) s.fetched.shift()
    while (s.ends.length > 1 && s.ends[0]!.end <= next) s.ends.shift()
  }

  snapshot(): ConsumerHealthSnapshot {
    const now = this.#now()
    const elapsed = this.#elapsed()
    const partitions: PartitionHealth[] = []
    for (const s of this.#partitions.values()) partitions.push(this.#partitionHealth(s, now, elapsed))
    partitions.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
    return { group: this.group, stalled: partitions.some((p) => p.stalled), stallAfterSeconds: this.stallAfterMs / 1000, partitions }
  }

  #start(s: PartitionState): bigint | null {
    const low = s.low ?? (this.#fromBeginning ? 0n : null)
    if (s.position === null) return low
    return low !== null && low > s.position ? low : s.position
  }

  #hasLag(s: PartitionState): boolean {
    const end = s.ends.at(-1)?.end
    const start = this.#start(s)
    return end !== undefined && start !== null && end > start
  }

  /** `now` on the wall clock (the age), `elapsed` on the monotonic one (the stall). */
  #partitionHealth(s: PartitionState, now: number, elapsed: number): PartitionHealth {
    const end = s.ends.at(-1)?.end ?? null
    const start = this.#start(s)
    const lag = end !== null && start !== null && end > start ? Number(end - start) : 0
    let oldestAt = now
    let waitingSince = s.lastProgressAt
    if (lag > 0) {
      // The first end seen past the position: a record at or after it existed by then.
      const seen = s.ends.find((e) => start === null || e.end > start)
      if (seen) waitingSince = Math.max(waitingSince, seen.elapsed)
      // Fetched and not durable: the record's own timestamp (or the first of its range, a little older).
      // Not fetched (yet, or again after a rebalance): when the broker first showed it is the best we know.
      const fetched = s.fetched.find((f) => start === null || f.last >= start)
      const covered = fetched !== undefined && Number.isFinite(fetched.at) && (start === null || fetched.first <= start)
      if (covered) oldestAt = Math.min(oldestAt, fetched.at)
      else {
        if (seen) oldestAt = Math.min(oldestAt, seen.at)
        if (fetched && Number.isFinite(fetched.at)) oldestAt = Math.min(oldestAt, fetched.at)
      }
    }
    const noProgressMs = lag > 0 ? Math.max(0, elapsed - waitingSince) : 0
    return {
      topic: s.topic,
      partition: s.partition,
      position: s.position === null ? null : String(s.position),
      end: end === null ? null : String(end),
      lag,
      oldestUnprocessedAgeSeconds: lag > 0 ? Math.max(0, now - oldestAt) / 1000 : 0,
      noProgressForSeconds: noProgressMs / 1000,
      stalled: lag > 0 && noProgressMs >= this.stallAfterMs,
    }
  }
}

const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`

/** Keeps the first observation (it dates the oldest waiting record) and every other one after it. */
function thin(ends: EndSeen[]): void {
  const kept = ends.filter((_, i) => i === 0 || i === ends.length - 1 || i % 2 === 0)
  ends.splice(0, ends.length, ...kept)
}

/** The broker calls the monitor needs: a kafkajs admin client, or a test double of these two. */
export type HealthAdmin = Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>

export interface ConsumerHealthMonitorOptions extends Omit<ConsumerHealthOptions, 'now' | 'elapsed'> {
  topics: readonly string[]
  /** A connected admin client; the monitor does not connect or disconnect it. */
  admin: HealthAdmin
  /** The consumer whose group joins say which partitions this member owns. */
  consumer: Pick<Consumer, 'on' | 'events'>
  /** How often end and committed offsets are fetched from the broker (5 s). */
  intervalMs?: number
  logger: Logger
  /** The wall clock, for the oldest record's age (Date.now). */
  now?: () => number
  /** A monotonic clock, for the stall (performance.now). */
  elapsed?: () => number
}

/**
 * Feeds a `ConsumerHealth` from the broker: end offsets and the group's committed offsets every
 * `intervalMs`, and the assignment from each group join. The consumer itself reports what it fetched
 * (`health.fetched`) and made durable (`health.processed`), so the snapshot is current between polls.
 */
export class ConsumerHealthMonitor {
  readonly health: ConsumerHealth
  readonly #o: ConsumerHealthMonitorOptions
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #failures = 0
  /** On a monotonic clock (performance.now): on the wall clock, a step back (NTP) silenced the failure's warning for as long as the step. */
  #lastFailureLog = -Infinity
  #wasStalled = false
  readonly #removers: (() => void)[] = []

  constructor(opts: ConsumerHealthMonitorOptions) {
    this.#o = opts
    const now = opts.now ?? (() => Date.now())
    const elapsed = opts.elapsed ?? (() => performance.now())
    this.health = new ConsumerHealth({ group: opts.group, stallAfterMs: opts.stallAfterMs, fromBeginning: opts.fromBeginning, now, elapsed })
    this.#removers.push(opts.consumer.on(opts.consumer.events.GROUP_JOIN, ({ payload }) => {
      this.health.assigned(payload.memberAssignment)
      void this.poll()
    }))
    // No STOP handler: kafkajs stops the consumer on a crash too, before it restarts and rejoins. Forgetting
    // the partitions there would reset their stall clocks on every crash, and a consumer crash-looping
    // faster than the stall time would never show as stalled. A rebalance's GROUP_JOIN says what is ours.
  }

  /** Polls now and then every `intervalMs`. */
  start(): void {
    if (this.#timer) return
    void this.poll()
    this.#timer = setInterval(() => void this.poll(), this.#o.intervalMs ?? 5000)
    this.#timer.unref()
  }

  /** Stops polling and forgets the partitions: for a consumer that leaves its group on purpose. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    for (const remove of this.#removers.splice(0)) remove()
    this.health.assigned({})
  }

  /** One fetch of end and committed offsets; a failure keeps the last values and is logged at a bounded rate. */
  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => { this.#polling = undefined })
    return this.#polling
  }

  snapshot(): ConsumerHealthSnapshot {
    return this.health.snapshot()
  }

  /** A stall is logged when it starts and when it ends, not at every poll. */
  #logTransition(): void {
    const snapshot = this.health.snapshot()
    if (snapshot.stalled === this.#wasStalled) return
    this.#wasStalled = snapshot.stalled
    if (snapshot.stalled) this.#o.logger.warn({ stall: stallReason(snapshot) }, 'consumer stalled: records waiting and no progress')
    else this.#o.logger.info({ group: snapshot.group }, 'consumer progressing again')
  }

  async #poll(): Promise<void> {
    const topics = this.#o.topics.filter((t) => this.health.assignment[t] !== undefined)
    if (topics.length === 0) return
    try {
      // Ends first: a commit is judged against an end listed before it, not one a poll older.
      for (const topic of topics) this.health.endOffsets(topic, await this.#o.admin.fetchTopicOffsets(topic))
      const committed = await this.#o.admin.fetchOffsets({ groupId: this.#o.group, topics })
      for (const t of committed) this.health.committed(t.topic, t.partitions)
      this.#failures = 0
      this.#logTransition()
    } catch (err) {
      this.#failures++
      const now = performance.now()
      if (now - this.#lastFailureLog >= 60_000) {
        this.#lastFailureLog = now
        this.#o.logger.warn({ err, group: this.#o.group, failures: this.#failures }, 'consumer health: could not fetch offsets from the broker; keeping the last ones')
      }
    }
  }
}

/** The metric names every consumer exports (the self-monitoring rules use them). */
export const CONSUMER_HEALTH_METRICS = Object.freeze({
  lag: 'opsreview_consumer_lag',
  oldestUnprocessedAge: 'opsreview_consumer_oldest_unprocessed_age_seconds',
  stalled: 'opsreview_consumer_stalled',
})

/** The part of a prom-client Gauge the collectors use. */
export interface GaugeLike {
  set(labels: Record<string, string>, value: number): void
  reset(): void
}

/**
 * prom-client's `Gauge` class, passed in by the service (this package does not depend on prom-client).
 * `R` is the service's `Registry`.
 */
export type GaugeClass<R> = new (config: { name: string; help: string; labelNames: string[]; registers: R[]; collect: (this: GaugeLike) => void }) => unknown

/**
 * Registers `opsreview_consumer_lag` and `opsreview_consumer_oldest_unprocessed_age_seconds` per group,
 * topic and partition, and `opsreview_consumer_stalled` per group, computed from `sources` at each scrape.
 * Call once per registry with every consumer of the process.
 */
export function registerConsumerHealthMetrics<R>(Gauge: GaugeClass<R>, registry: R, sources: () => Iterable<{ snapshot(): ConsumerHealthSnapshot }>): void {
  const snapshots = () => [...sources()].map((s) => s.snapshot())
  new Gauge({
    name: CONSUMER_HEALTH_METRICS.lag, help: 'Records behind the end offset of each partition, fetched from the broker', labelNames: ['group', 'topic', 'partition'], registers: [registry],
    collect() { this.reset(); for (const s of snapshots()) for (const p of s.partitions) this.set({ group: s.group, topic: p.topic, partition: String(p.partition) }, p.lag) },
  })
  new Gauge({
    name: CONSUMER_HEALTH_METRICS.oldestUnprocessedAge, help: 'Age of the oldest record fetched or available but not yet durable; 0 when caught up', labelNames: ['group', 'topic', 'partition'], registers: [registry],
    collect() { this.reset(); for (const s of snapshots()) for (const p of s.partitions) this.set({ group: s.group, topic: p.topic, partition: String(p.partition) }, p.oldestUnprocessedAgeSeconds) },
  })
  new Gauge({
    name: CONSUMER_HEALTH_METRICS.stalled, help: '1 when the group has lag and made no progress for the stall time', labelNames: ['group'], registers: [registry],
    collect() { this.reset(); for (const s of snapshots()) this.set({ group: s.group }, s.stalled ? 1 : 0) },
  })
}

/** Why a consumer is not ready, for a `/readyz` body: the stalled partitions, or undefined when none is. */
export function stallReason(snapshot: ConsumerHealthSnapshot): { group: string; stallAfterSeconds: number; partitions: Pick<PartitionHealth, 'topic' | 'partition' | 'lag' | 'position' | 'noProgressForSeconds' | 'oldestUnprocessedAgeSeconds'>[] } | undefined {
  if (!snapshot.stalled) return undefined
  return {
    group: snapshot.group,
    stallAfterSeconds: snapshot.stallAfterSeconds,
    partitions: snapshot.partitions.filter((p) => p.stalled).map(({ topic, partition, lag, position, noProgressForSeconds, oldestUnprocessedAgeSeconds }) => ({ topic, partition, lag, position, noProgressForSeconds, oldestUnprocessedAgeSeconds })),
  }
}
