/**
 * Repeated failures (a retry every few hundred milliseconds for as long as Elasticsearch is down) are
 * logged once per interval and key, with how many were held back since: the log says what is happening
 * without drowning in it.
 */
export class RateLimitedLog {
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #last = new Map<string, { at: number; suppressed: number }>()

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs
    this.#now = now
  }

  /** Calls `log(suppressed)` when `key` was not logged within the interval; otherwise counts it as held back. */
  maybe(key: string, log: (suppressed: number) => void): void {
    const now = this.#now()
    const last = this.#last.get(key)
    if (last && now - last.at < this.#intervalMs) {
      last.suppressed++
      return
    }
    this.#last.set(key, { at: now, suppressed: 0 })
    log(last?.suppressed ?? 0)
  }
}
