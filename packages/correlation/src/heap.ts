/**
 * A binary min-heap over a plain array, so a snapshot can store the array as it is and a restore can
 * take it back without re-sorting: the array is always a valid heap.
 */
export class Heap<T> {
  readonly items: T[]
  readonly #before: (a: T, b: T) => boolean

  constructor(before: (a: T, b: T) => boolean, items: T[] = []) {
    this.#before = before
    this.items = items
  }

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const a = this.items
    let i = a.length
    a.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#before(item, a[parent]!)) break
      a[i] = a[parent]!
      i = parent
    }
    a[i] = item
  }

  pop(): T | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return top
    let i = 0
    const n = a.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && this.#before(a[r]!, a[l]!) ? r : l
      if (!this.#before(a[child]!, last)) break
      a[i] = a[child]!
      i = child
    }
    a[i] = last
    return top
  }
}
