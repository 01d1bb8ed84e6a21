/**
 * The ids of events acknowledged in the last `ttlMs`: at most `max` of them, and at least the `max / 2`
 * most recent. It saves Kafka a copy of a
 * retried delivery (Alertmanager retries a 503 within seconds). It is not what guarantees dedup (every
 * consumer dedups by id), and it must forget: a repeat notification hours later (Alertmanager's
 * repeat_interval) tells the correlator that the alert still fires.
 */
export class RecentIds {
  readonly #generationSize: number
  readonly #ttlMs: number
  // Two generations instead of one map trimmed entry by entry: adding is one insertion, and the oldest
  // half is forgotten at once when the newer one fills. Between max/2 and max ids are remembered.
  #current = new Map<string, number>()
  #previous = new Map<string, number>()

  constructor(max: number, ttlMs: number) {
    this.#generationSize = Math.max(1, Math.ceil(max / 2))
    this.#ttlMs = ttlMs
  }

  has(id: string, now: number): boolean {
    const at = this.#current.get(id) ?? this.#previous.get(id)
    return at !== undefined && now - at < this.#ttlMs
  }

  add(id: string, now: number): void {
    if (this.#current.size >= this.#generationSize && !this.#current.has(id)) {
      this.#previous = this.#current
      this.#current = new Map()
    }
    this.#current.set(id, now)
  }
}
