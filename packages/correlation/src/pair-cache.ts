/**
 * Values remembered by two keys (a service and an environment, an environment and a dependency), at most
 * `max` in all: preview environments and per-run services come and go, and a cache of every one ever seen
 * grows for ever. When full it starts again; a value forgotten is only built again. Two levels, not one
 * map of joined keys: a hit costs two lookups and builds no string.
 */
export class PairCache<V> {
  readonly max: number
  readonly #outer = new Map<string, Map<string, V>>()
  #size = 0

  constructor(max = 65_536) {
    this.max = max
  }

  get size(): number {
    return this.#size
  }

  get(a: string, b: string): V | undefined {
    return this.#outer.get(a)?.get(b)
  }

  /** Remembers the value of (a, b), which `get` did not have. */
  set(a: string, b: string, value: V): V {
    if (this.#size >= this.max) {
      this.#outer.clear()
      this.#size = 0
    }
    let inner = this.#outer.get(a)
    if (!inner) this.#outer.set(a, (inner = new Map()))
    inner.set(b, value)
    this.#size++
    return value
  }
}
