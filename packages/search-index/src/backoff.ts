// Bounded exponential back-off with jitter, for every retry of the indexer.

/**
 * The wait before retry number `failures` (1, 2, …): `minMs` doubled per failure up to `maxMs`, then between
 * half and all of it, so instances retrying the same outage (Elasticsearch down, a lost coordinator) spread
 * out instead of arriving together.
 */
export function retryDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  // The exponent is capped: past 2 ** 1023 it is Infinity, and a 0 minimum times Infinity is NaN.
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(0, failures - 1), 30))
  return ceiling / 2 + random() * (ceiling / 2)
}
