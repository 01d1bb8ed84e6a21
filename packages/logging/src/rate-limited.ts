/**
 * Repeated failures (a retry every few hundred milliseconds for as long as Elasticsearch is down) are
 * logged once per interval and key, with how many were held back since: the log says what is happening
 * without drowning in it.
 */
export class RateLimitedLog {
  readonly #intervalMs: number
  /** A monotonic clock (ms) by default: on the wall clock, a step back (NTP) held every key's logs back for as long as the step. */
  readonly #elapsed: () => number
  readonly #last = new Map<string, { at: number; suppressed: number }>()

  constructor(intervalMs: number, elapsed: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs
    this.#elapsed = elapsed
  }

  /** Calls `log(suppressed)` when `key` was not logged within the interval; otherwise counts it as held back. */
  maybe(key: string, log: (suppressed: number) => void): void {
    const now = this.#elapsed()
    const last = this.#last.get(key)
    if (last && now - last.at < this.#intervalMs) {
      last.suppressed++
      return
    }
    this.#last.set(key, { at: now, suppressed: 0 })
    log(last?.suppressed ?? 0)
  }
}
