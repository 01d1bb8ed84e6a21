import CircuitBreaker from 'opossum'
import type { Logger } from 'pino'

export interface BackPressureOptions {
  logger: Logger
  /** Stop fetching: nothing new is read while Elasticsearch cannot take it. */
  pause: () => void
  /** Fetch again: called when the breaker lets a trial request through, and when it closes. */
  resume: () => void
  /** How long a bulk request may take before it counts as failed. */
  timeoutMs?: number
  /** How long the breaker stays open before one trial request. */
  resetTimeoutMs?: number
}

/**
 * An opossum breaker around Elasticsearch writes. When bulk requests keep failing it opens: consumption
 * pauses, so memory does not grow with a backlog, and the batch in hand waits. Every `resetTimeoutMs` one
 * request tries again; when one succeeds the breaker closes and consumption resumes by itself.
 */
export function createBackPressure(opts: BackPressureOptions) {
  const breaker = new CircuitBreaker(<T>(attempt: () => Promise<T>) => attempt(), {
    timeout: opts.timeoutMs ?? 30_000,
    resetTimeout: opts.resetTimeoutMs ?? 5_000,
    errorThresholdPercentage: 50,
    volumeThreshold: 3,
    rollingCountTimeout: 30_000,
  })
  // Set at shutdown: the consumer is paused to drain, and a breaker recovering meanwhile must not fetch more.
  let stopping = false
  breaker.on('open', () => { opts.logger.warn({ breaker: 'open' }, 'elasticsearch breaker opened: consumption paused'); opts.pause() })
  breaker.on('halfOpen', () => {
    opts.logger.info({ breaker: 'half-open' }, stopping ? 'elasticsearch breaker half-open: trying one bulk request (shutting down: consumption stays paused)' : 'elasticsearch breaker half-open: trying one bulk request')
    if (!stopping) opts.resume()
  })
  breaker.on('close', () => {
    opts.logger.info({ breaker: 'closed' }, stopping ? 'elasticsearch breaker closed (shutting down: consumption stays paused)' : 'elasticsearch breaker closed: consumption resumed')
    if (!stopping) opts.resume()
  })
  return {
    guard: <T>(attempt: () => Promise<T>): Promise<T> => breaker.fire(attempt) as Promise<T>,
    get state(): 'open' | 'half-open' | 'closed' { return breaker.opened ? 'open' : breaker.halfOpen ? 'half-open' : 'closed' },
    /**
     * For shutdown, before the drain: the breaker never resumes consumption again. It still guards the
     * drain's requests (a shut-down breaker would refuse them all), so `shutdown` comes after the drain.
     */
    stopResuming: () => { stopping = true },
    shutdown: () => breaker.shutdown(),
  }
}
