// The event ids remembered for dedup: every id of the retention (30 days by default), so the largest part of
// an engine's state by count. A Map<string, number> of 32-hex ids costs ~140 bytes per id on the heap (the
// string, the entry, the table); this open-addressing table in typed arrays costs 20 bytes per slot, at
// most twice the ids, and is restored from a snapshot without parsing a string per id.
//
// An id is kept as its first 96 bits (24 hex digits; event ids are sha256 hex, so the bits are uniform).
// Two different ids sharing those is a chance of about 2^-96 per pair: negligible at millions of ids.

import { finish } from './steps.ts'

const EMPTY = -Infinity
const MIN_CAPACITY = 1024
/** Above this share of used slots (live or expired) the table is rebuilt for the live ids, at `REBUILT_LOAD`. */
const MAX_LOAD = 0.75
const REBUILT_LOAD = 0.4

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** The 96-bit key of an id, into `out`: its first 24 hex digits, or a hash of it when it is not hex. */
function keyOf(id: string, out: Uint32Array): void {
  if (id.length >= 24) {
    let ok = true
    for (let w = 0; w < 3 && ok; w++) {
      let v = 0
      for (let i = w * 8; i < w * 8 + 8; i++) {
        const d = hexDigit(id.charCodeAt(i))
        if (d < 0) { ok = false; break }
        v = (v << 4) | d
      }
      out[w] = v
    }
    if (ok) return
  }
  // Any other id (tests, hand-made records): three independent FNV-1a hashes of it.
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995, c = 0x9e3779b9
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i)
    a = Math.imul(a ^ ch, 0x01000193)
    b = Math.imul(b ^ ch, 0x5bd1e995)
    c = Math.imul(c ^ ch, 0x27d4eb2f)
  }
  out[0] = a >>> 0
  out[1] = b >>> 0
  out[2] = (c ^ 0x80000000) >>> 0
}

export interface SeenSnapshot {
  /** Base64 blocks of the keys (three little-endian uint32 per id) and of their stamps (float64), in the same order. */
  keys: string[]
  stamps: string[]
}

/** Ids per base64 block in a snapshot: blocks of a few hundred KiB. */
const BLOCK = 16_384

export class SeenIds {
  #keys: Uint32Array
  #stamps: Float64Array
  #capacity: number
  /** Slots not empty: live ids and expired ones not yet swept. */
  #used = 0
  /** Ids stamped before this are forgotten. */
  #horizon = -Infinity
  readonly #k = new Uint32Array(3)
  #lastId = ''

  constructor(capacity = MIN_CAPACITY) {
    this.#keys = new Uint32Array(capacity * 3)
    this.#stamps = new Float64Array(capacity).fill(EMPTY)
    this.#capacity = capacity
  }

  /** Whether the id was seen and is not forgotten. */
  has(id: string): boolean {
    this.#keyOf(id)
    return this.#find(this.#k[0]!, this.#k[1]!, this.#k[2]!) >= 0
  }

  /** Remembers an id not remembered yet, with its stamp (stamps never decrease). */
  add(id: string, stamp: number): void {
    this.#keyOf(id)
    this.#insert(this.#k[0]!, this.#k[1]!, this.#k[2]!, stamp)
  }

  /** An id is looked up, then added: its key is computed once. */
  #keyOf(id: string): void {
    if (id === this.#lastId) return
    keyOf(id, this.#k)
    this.#lastId = id
  }

  /** Forgets every id stamped before `horizon`: they read as absent now, and their slots are reused. */
  forget(horizon: number): void {
    if (horizon > this.#horizon) this.#horizon = horizon
  }

  /** Live ids. */
  get size(): number {
    let n = 0
    const st = this.#stamps
    for (let i = 0; i < st.length; i++) if (st[i]! >= this.#horizon && st[i]! !== EMPTY) n++
    return n
  }

  /** Any capacity, not only powers of two (which would waste up to half the table): a multiply maps the hash onto it. */
  #slot(a: number, b: number, c: number): number {
    return Math.floor((Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ c, 0x85ebca6b) >>> 0) * this.#capacity / 4294967296)
  }

  #find(a: number, b: number, c: number): number {
    const keys = this.#keys
    const st = this.#stamps
    for (let i = this.#slot(a, b, c); ; i = i + 1 === this.#capacity ? 0 : i + 1) {
      const t = st[i]!
      if (t === EMPTY) return -1
      const j = i * 3
      if (keys[j] === a && keys[j + 1] === b && keys[j + 2] === c) return t >= this.#horizon ? i : -1
    }
  }

  #insert(a: number, b: number, c: number, stamp: number): void {
    const keys = this.#keys
    const st = this.#stamps
    let reuse = -1
    let i = this.#slot(a, b, c)
    for (; ; i = i + 1 === this.#capacity ? 0 : i + 1) {
      const t = st[i]!
      if (t === EMPTY) break
      const j = i * 3
      if (keys[j] === a && keys[j + 1] === b && keys[j + 2] === c) { st[i] = stamp; return }
      if (reuse < 0 && t < this.#horizon) reuse = i
    }
    if (reuse >= 0) i = reuse
    else this.#used++
    keys[i * 3] = a
    keys[i * 3 + 1] = b
    keys[i * 3 + 2] = c
    st[i] = stamp
    if (this.#used > this.#capacity * MAX_LOAD) this.#rebuild()
  }

  #rebuild(): void {
    const keys = this.#keys
    const st = this.#stamps
    let live = 0
    for (let i = 0; i < st.length; i++) if (st[i]! !== EMPTY && st[i]! >= this.#horizon) live++
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(live / REBUILT_LOAD))
    this.#keys = new Uint32Array(capacity * 3)
    this.#stamps = new Float64Array(capacity).fill(EMPTY)
    this.#capacity = capacity
    this.#used = 0
    for (let i = 0; i < st.length; i++) {
      const t = st[i]!
      if (t !== EMPTY && t >= this.#horizon) this.#insert(keys[i * 3]!, keys[i * 3 + 1]!, keys[i * 3 + 2]!, t)
    }
  }

  /** The live ids as base64 blocks: no string per id, and a restore that copies bytes. */
  toSnapshot(): SeenSnapshot {
    const st = this.#stamps
    const keys = this.#keys
    const out: SeenSnapshot = { keys: [], stamps: [] }
    let kb = new Uint32Array(BLOCK * 3)
    let sb = new Float64Array(BLOCK)
    let n = 0
    const flush = () => {
      out.keys.push(Buffer.from(kb.buffer, 0, n * 12).toString('base64'))
      out.stamps.push(Buffer.from(sb.buffer, 0, n * 8).toString('base64'))
      kb = new Uint32Array(BLOCK * 3)
      sb = new Float64Array(BLOCK)
      n = 0
    }
    for (let i = 0; i < st.length; i++) {
      const t = st[i]!
      if (t === EMPTY || t < this.#horizon) continue
      kb[n * 3] = keys[i * 3]!
      kb[n * 3 + 1] = keys[i * 3 + 1]!
      kb[n * 3 + 2] = keys[i * 3 + 2]!
      sb[n] = t
      if (++n === BLOCK) flush()
    }
    if (n > 0) flush()
    return out
  }

  static fromSnapshot(snapshot: SeenSnapshot): SeenIds {
    return finish(SeenIds.restoring(snapshot))
  }

  /** `fromSnapshot` in steps, one per block of ids: a caller may let the event loop run between them. */
  static *restoring(snapshot: SeenSnapshot): Generator<undefined, SeenIds> {
    let total = 0
    for (const s of snapshot.stamps) total += Buffer.byteLength(s, 'base64') / 8
    const seen = new SeenIds(Math.max(MIN_CAPACITY, Math.ceil(total / REBUILT_LOAD)))
    for (let b = 0; b < snapshot.keys.length; b++) {
      const kbuf = Buffer.from(snapshot.keys[b]!, 'base64')
      const sbuf = Buffer.from(snapshot.stamps[b]!, 'base64')
      // Copied into aligned arrays: a Buffer from base64 may sit at any offset of its pool.
      const kb = new Uint32Array(kbuf.length / 4)
      new Uint8Array(kb.buffer).set(kbuf)
      const sb = new Float64Array(sbuf.length / 8)
      new Uint8Array(sb.buffer).set(sbuf)
      for (let i = 0; i < sb.length; i++) seen.#insert(kb[i * 3]!, kb[i * 3 + 1]!, kb[i * 3 + 2]!, sb[i]!)
      yield
    }
    return seen
  }
}
