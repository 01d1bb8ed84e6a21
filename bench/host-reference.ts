// How fast this host is, now: the milliseconds it takes for a fixed piece of work that is none of the
// engine's but of its kind: 200,000 objects put into a Map by string key, then looked up in another order
// (cache misses, string hashing, young objects that survive). A warm-up, then the median of five; prints it.
//
// This host's speed moves by a third within the hour (docs/performance.md): `pnpm bench:correlator` runs
// this before and after each pass, pinned to the pass's CPU, and prints it beside the rate, so that a low
// rate at a usual reference is the code's, and at a high one the host's. A process of its own: run in the
// pass's, its garbage and the young generation it grew changed the engine's collections (a full GC fewer).
import { median } from './lib.ts'

function referenceMs(): number {
  const n = 200_000
  const started = performance.now()
  const table = new Map<string, { n: number; at: number }>()
  // 7,919 and 104,729 share no factor with 200,000 (2^6 · 5^5): each walk visits every key once, in two orders.
  for (let i = 0; i < n; i++) table.set(`key-${(i * 7919) % n}`, { n: (i * 7919) % n, at: i * 1000.5 })
  let sum = 0
  for (let i = 0; i < n; i++) sum += table.get(`key-${(i * 104_729) % n}`)!.n
  if (sum !== (n * (n - 1)) / 2) throw new Error(`host reference: the keys summed to ${sum}`)
  return performance.now() - started
}

referenceMs()
console.log(Math.round(median(Array.from({ length: 5 }, () => referenceMs()))))
