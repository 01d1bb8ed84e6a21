/**
 * At most one log line per interval for an event that can repeat without bound (unauthenticated
 * requests): the line says how many were left out since the last one.
 */
export class LogThrottle {
  readonly #intervalMs: number
  #lastMs = -Infinity
  #suppressed = 0

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs
  }

  /** undefined when this occurrence stays unlogged; otherwise how many were left out before it. */
  take(nowMs: number): number | undefined {
    if (nowMs - this.#lastMs < this.#intervalMs) {
      this.#suppressed++
      return undefined
    }
    const suppressed = this.#suppressed
    this.#lastMs = nowMs
    this.#suppressed = 0
    return suppressed
  }
}
