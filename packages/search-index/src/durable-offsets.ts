/**
 * The records of one `eachBatch` call, waiting on the bulk requests that carry them. A span is durable
 * when every request that holds one of its documents (or dead letters) has finished.
 */
export interface Span {
  readonly topic: string
  readonly partition: number
  /** The last offset of the records the span covers. */
  readonly lastOffset: bigint
  /** Requests still to finish. */
  pending: number
  readonly generation: number
}

export interface CommitOffset {
  topic: string
  partition: number
  /** The next offset to read: one past the last durable record. */
  offset: string
}

interface PartitionState {
  topic: string
  partition: number
  /** In offset order: kafkajs hands one partition's batches over one after another. */
  spans: Span[]
  /** One past the last record of the longest durable prefix; -1n before any. */
  durable: bigint
  committed: bigint
}

/**
 * Per partition, which records are durable in Elasticsearch. Bulk requests finish in any order and one
 * request carries records of many partitions, so a partition's commit offset is the end of its longest
 * prefix of durable spans: a record is never committed before every record ahead of it is durable.
 *
 * A consumer group join starts a new generation (kafkajs then reads again from the committed offsets):
 * spans of older generations are forgotten, and their requests, still finishing, change nothing here.
 */
export class DurableOffsets {
  readonly #partitions = new Map<string, PartitionState>()
  #generation = 0

  /** Opens a span for records up to `lastOffset`; `done` it once for every request `attach`ed to it. */
  open(topic: string, partition: number, lastOffset: string): Span {
    const key = `${topic}\u0000${partition}`
    let state = this.#partitions.get(key)
    if (!state) {
      state = { topic, partition, spans: [], durable: -1n, committed: -1n }
      this.#partitions.set(key, state)
    }
    const span: Span = { topic, partition, lastOffset: BigInt(lastOffset), pending: 0, generation: this.#generation }
    state.spans.push(span)
    return span
  }

  /** One request of the span has finished. Returns whether a commit offset moved. */
  done(span: Span): boolean {
    span.pending--
    if (span.pending > 0 || span.generation !== this.#generation) return false
    return this.#advance(span)
  }

  /** A span that no request carries (every record was empty): durable as soon as those before it are. */
  settle(span: Span): boolean {
    return span.pending === 0 && span.generation === this.#generation && this.#advance(span)
  }

  /** Spans held: those not durable yet, and at most one finished span after each of them. */
  heldSpans(): number {
    let n = 0
    for (const s of this.#partitions.values()) n += s.spans.length
    return n
  }

  /** `finished` has no request left: the durable prefix moves, or it stands in for the finished spans next to it. */
  #advance(finished: Span): boolean {
    const state = this.#partitions.get(`${finished.topic}\u0000${finished.partition}`)
    if (!state) return false
    let moved = false
    while (state.spans.length > 0 && state.spans[0]!.pending === 0) {
      state.durable = state.spans.shift()!.lastOffset + 1n
      moved = true
    }
    if (!moved) this.#merge(state.spans, finished)
    return moved
  }

  /**
   * Of a run of finished spans behind one that is not, only the last matters: the prefix, once it gets
   * there, moves to its end. Kept alone, the finished spans behind a request that never finishes (a
   * document Elasticsearch refuses with an error that counts no attempt) grew by one per batch for ever.
   */
  #merge(spans: Span[], finished: Span): void {
    // Batches finish about in order: the span is near the end.
    let i = spans.lastIndexOf(finished)
    if (i <= 0) return
    if (spans[i - 1]!.pending === 0) spans.splice(--i, 1)
    if (i + 1 < spans.length && spans[i + 1]!.pending === 0) spans.splice(i, 1)
  }

  /** Durable offsets not committed yet. */
  uncommitted(): CommitOffset[] {
    const out: CommitOffset[] = []
    for (const s of this.#partitions.values()) if (s.durable > s.committed) out.push({ topic: s.topic, partition: s.partition, offset: String(s.durable) })
    return out
  }

  /**
   * Per partition, the records taken and not durable yet: from the end of the durable prefix (unknown before
   * any record of this generation is durable) to the last record taken. What a successor reads again.
   */
  notDurable(): { topic: string; partition: number; from?: string; to: string }[] {
    const out: { topic: string; partition: number; from?: string; to: string }[] = []
    for (const s of this.#partitions.values()) {
      const last = s.spans.at(-1)
      if (last) out.push({ topic: s.topic, partition: s.partition, ...(s.durable >= 0n ? { from: String(s.durable) } : {}), to: String(last.lastOffset) })
    }
    return out
  }

  /** The group accepted these commits. */
  committed(offsets: readonly CommitOffset[]): void {
    for (const o of offsets) {
      const state = this.#partitions.get(`${o.topic}\u0000${o.partition}`)
      if (state && BigInt(o.offset) > state.committed) state.committed = BigInt(o.offset)
    }
  }

  /** A new group generation: forget every span and offset (kafkajs reads again from the committed ones). */
  reset(): void {
    this.#partitions.clear()
    this.#generation++
  }
}
