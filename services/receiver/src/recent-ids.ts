/**
 * The ids of recently acknowledged events, oldest evicted first. It saves Kafka a copy of each
 * redelivery; it is not what guarantees dedup (every consumer dedups by id), so a bounded size is fine.
 */
export class RecentIds {
  readonly #max: number
  readonly #ids = new Set<string>()

  constructor(max: number) {
    this.#max = max
  }

  has(id: string): boolean {
    return this.#ids.has(id)
  }

  add(id: string): void {
    this.#ids.delete(id)
    this.#ids.add(id)
    if (this.#ids.size > this.#max) this.#ids.delete(this.#ids.values().next().value!)
  }
}
