/**
 * The ids of events acknowledged in the last `ttlMs`, at most `max` of them. It saves Kafka a copy of a
 * retried delivery (Alertmanager retries a 503 within seconds). It is not what guarantees dedup (every
 * consumer dedups by id), and it must forget: a repeat notification hours later (Alertmanager's
 * repeat_interval) tells the correlator that the alert still fires.
 */
export class RecentIds {
  readonly #max: number
  readonly #ttlMs: number
  readonly #seenAt = new Map<string, number>()

  constructor(max: number, ttlMs: number) {
    this.#max = max
    this.#ttlMs = ttlMs
  }

  has(id: string, now: number): boolean {
    const at = this.#seenAt.get(id)
    return at !== undefined && now - at < this.#ttlMs
  }

  add(id: string, now: number): void {
    this.#seenAt.delete(id)
    this.#seenAt.set(id, now)
    if (this.#seenAt.size > this.#max) this.#seenAt.delete(this.#seenAt.keys().next().value!)
  }
}
