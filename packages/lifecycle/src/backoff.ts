// Bounded exponential back-off, for every retry loop of the services: one formula, so that the spool's
// drain, the correlator's consumers and the indexer's writes wait alike.
import { setTimeout as sleep } from 'node:timers/promises'

/** The wait after the `failures`-th failure in a row (1, 2, …): `initialMs`, doubled per failure, at most `maxMs`. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  // The exponent is capped: past 2 ** 1023 it is Infinity, and a 0 initial wait times Infinity is NaN.
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, failures - 1), 30))
}

/**
 * `backoffMs`, then between half and all of it, so instances retrying the same outage (Elasticsearch down,
 * a lost coordinator) spread out instead of arriving together.
 */
export function retryDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = backoffMs(failures, minMs, maxMs)
  return ceiling / 2 + random() * (ceiling / 2)
}

/**
 * Waits out a back-off of `ms`, or less: it resolves, never rejects, as soon as `ends` aborts (when given), so
 * a shutdown does not wait one out. `ref: false` lets the process exit while only this wait is pending.
 */
export function sleepUnlessAborted(ms: number, ends?: AbortSignal, { ref = true }: { ref?: boolean } = {}): Promise<void> {
  return sleep(ms, undefined, { signal: ends, ref }).catch(() => undefined)
}
