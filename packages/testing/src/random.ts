// Seeded numbers for the synthetic streams of tests and benches: outside any vitest import, so a bench can use it.

/**
 * Numbers in [0, 1), the same for a seed on every machine (mulberry32: 32-bit integer arithmetic only).
 * The streams used to write a linear congruential step as `state * 1103515245 + 12345` in doubles: the
 * product passes 2^53 and loses its low bits, and the correlator bench's stream, meant to spread episodes
 * over 1,500 service/environment groups, reached 743 of them, the busiest 8 times as often as the median.
 */
export function seededRandom(seed: number): () => number {
  let a = seed | 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
