// The event ids remembered for dedup: every id of the retention (30 days by default), so the largest part of
// an engine's state by count. A Map<string, number> of 32-hex ids costs ~140 bytes per id on the heap (the
// string, the entry, the table); this open-addressing table in typed arrays costs 24 bytes per slot, 1.33 to
// 2.5 slots per id (and the old table beside it while it grows), and is restored from a snapshot without
// parsing a string per id.
//
// An id is kept as 95 of its first 96 bits (24 hex digits, the last bit always set to mark a slot in use;
// event ids are sha256 hex, so the bits are uniform). Two different ids sharing those is a chance of about
// 2^-95 per pair: negligible at millions of ids.

import { finish } from './steps.ts'

const MIN_CAPACITY = 1024
/** Above this share of used slots (live or expired) the table grows into one for the live ids, at `REBUILT_LOAD`. */
const MAX_LOAD = 0.75
const REBUILT_LOAD = 0.4

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/**
 * The key of an id, into `out`: its first 24 hex digits, or a hash of it when it is not hex; the last
 * word's lowest bit is always set, so that a zero there marks an empty slot (95 bits of the id are kept).
 */
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
    if (ok) { out[2] = (out[2]! | 1) >>> 0; return }
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
  out[2] = ((c ^ 0x80000000) | 1) >>> 0
}

export interface SeenSnapshot {
  /** Base64 blocks of the keys (three little-endian uint32 per id) and of their stamps (float64), in the same order. */
  keys: string[]
  stamps: string[]
}

/** Ids per base64 block in a snapshot: blocks of a few hundred KiB. */
const BLOCK = 16_384

/**
 * One open-addressing table of 24-byte slots: three uint32 words of key (`keys[6i .. 6i+2]`), one unused,
 * and a float64 stamp (`stamps[3i + 2]`), two views of one buffer; a slot whose last key word is 0 is empty.
 * A slot's key and stamp share a cache line: in two arrays, an insertion reading the stamps along its
 * probe (to reuse a forgotten slot) missed the cache a second time (2026-12-05: 3 % of the engine).
 */
interface Table {
  keys: Uint32Array
  stamps: Float64Array
  capacity: number
}

/** Uint32 words per slot. */
const WORDS = 6
/** The index of slot `i`'s stamp in the float64 view: bytes 16 to 23 of the slot. */
const stampAt = (i: number): number => i * 3 + 2

// Zeroed memory is an empty table: nothing to fill, and the pages of a large one are touched as it fills,
// not all at once when it is made.
function newTable(capacity: number): Table {
  const buffer = new ArrayBuffer(capacity * WORDS * 4)
  return { keys: new Uint32Array(buffer), stamps: new Float64Array(buffer), capacity }
}

/**
 * Old slots moved per `add` while the table grows, at least. Rebuilt in one go, a table of a few million
 * ids blocked the event loop for a second (0.39 s at 1.45M ids); moved a few slots per insertion, growth
 * costs each insertion a little instead. An old table mostly of expired ids (a quiet spell after a storm)
 * can be far larger than the new one: then more are moved per insertion (`#grow`), so that the move ends
 * before the insertions meanwhile take the new table from 40 % to 75 % full.
 */
const MIN_MOVE_PER_ADD = 32

export class SeenIds {
  #t: Table
  /** The table being moved into `#t`, from slot `#next` on; null when no growth is under way. */
  #old: Table | null = null
  #next = 0
  #movePerAdd = MIN_MOVE_PER_ADD
  /** Slots of `#t` not empty: live ids and expired ones not yet swept. */
  #used = 0
  /** Ids stamped before this are forgotten. */
  #horizon = -Infinity
  readonly #k = new Uint32Array(3)
  #lastId = ''

  constructor(capacity = MIN_CAPACITY) {
    this.#t = newTable(capacity)
  }

  /** Whether the id was seen and is not forgotten. */
  has(id: string): boolean {
    this.#keyOf(id)
    const a = this.#k[0]!, b = this.#k[1]!, c = this.#k[2]!
    // An id not yet moved is still in the old table; one moved is in the new one, which is asked first.
    return this.#find(this.#t, a, b, c) >= 0 || (this.#old !== null && this.#find(this.#old, a, b, c) >= 0)
  }

  /** Remembers an id with its stamp, or stamps one remembered again (stamps never decrease). */
  add(id: string, stamp: number): void {
    this.#keyOf(id)
    this.#insert(this.#k[0]!, this.#k[1]!, this.#k[2]!, stamp, true)
    if (this.#old !== null) this.#move(this.#movePerAdd)
    // Not while moving (the pace of the move keeps the new table below this), but never past it: a table
    // with no empty slot left would have every lookup of an absent id go round it for ever.
    if (this.#used > this.#t.capacity * MAX_LOAD) {
      if (this.#old !== null) this.#move(Infinity)
      this.#grow()
    }
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

  /** Whether a growth is still moving ids into the new table. */
  get growing(): boolean {
    return this.#old !== null
  }

  /** Live ids. */
  get size(): number {
    let n = 0
    this.#eachLive((_a, _b, _c, _t) => { n++ })
    return n
  }

  /** Any capacity, not only powers of two (which would waste up to half the table): a multiply maps the hash onto it. */
  #slot(t: Table, a: number, b: number, c: number): number {
    return Math.floor((Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ c, 0x85ebca6b) >>> 0) * t.capacity / 4294967296)
  }

  #find(t: Table, a: number, b: number, c: number): number {
    const keys = t.keys
    const st = t.stamps
    for (let i = this.#slot(t, a, b, c); ; i = i + 1 === t.capacity ? 0 : i + 1) {
      const j = i * WORDS
      const kc = keys[j + 2]!
      if (kc === 0) return -1
      if (kc === c && keys[j] === a && keys[j + 1] === b) return st[stampAt(i)]! >= this.#horizon ? i : -1
    }
  }

  /** Into `#t`; an id already there keeps its stamp unless `overwrite` (a moved id is never newer than the table's). */
  #insert(a: number, b: number, c: number, stamp: number, overwrite: boolean): void {
    const t = this.#t
    const keys = t.keys
    const st = t.stamps
    let reuse = -1
    let i = this.#slot(t, a, b, c)
    for (; ; i = i + 1 === t.capacity ? 0 : i + 1) {
      const j = i * WORDS
      const kc = keys[j + 2]!
      if (kc === 0) break
      const s = st[stampAt(i)]!
      // A live id's stamp never goes down: the same id delivered again with an earlier receipt (a repeat
      // redelivered after a later one) must not have it forgotten sooner.
      if (kc === c && keys[j] === a && keys[j + 1] === b) { if (s < this.#horizon || (overwrite && stamp > s)) st[stampAt(i)] = stamp; return }
      if (reuse < 0 && s < this.#horizon) reuse = i
    }
    if (reuse >= 0) i = reuse
    else this.#used++
    keys[i * WORDS] = a
    keys[i * WORDS + 1] = b
    keys[i * WORDS + 2] = c
    st[stampAt(i)] = stamp
  }

  /** Starts moving the live ids into a table sized for them at `REBUILT_LOAD`; `add` moves them a few at a time. */
  #grow(): void {
    let live = 0
    const { keys, stamps, capacity } = this.#t
    for (let i = 0; i < capacity; i++) if (keys[i * WORDS + 2] !== 0 && stamps[stampAt(i)]! >= this.#horizon) live++
    this.#old = this.#t
    this.#next = 0
    this.#t = newTable(Math.max(MIN_CAPACITY, Math.ceil(live / REBUILT_LOAD)))
    this.#used = 0
    this.#movePerAdd = Math.max(MIN_MOVE_PER_ADD, Math.ceil(this.#old.capacity / ((MAX_LOAD - REBUILT_LOAD) * this.#t.capacity)))
  }

  /** Moves up to `slots` slots of the old table (the live ids among them) into the new one. */
  #move(slots: number): void {
    const old = this.#old!
    const end = Math.min(old.capacity, this.#next + slots)
    for (let i = this.#next; i < end; i++) {
      const s = old.stamps[stampAt(i)]!
      const j = i * WORDS
      if (old.keys[j + 2] !== 0 && s >= this.#horizon) this.#insert(old.keys[j]!, old.keys[j + 1]!, old.keys[j + 2]!, s, false)
    }
    this.#next = end
    if (end === old.capacity) this.#old = null
  }

  /** Every live id once: those of the new table, then those of the old one not moved yet. */
  #eachLive(f: (a: number, b: number, c: number, stamp: number) => void): void {
    const t = this.#t
    for (let i = 0; i < t.capacity; i++) {
      const s = t.stamps[stampAt(i)]!
      const j = i * WORDS
      if (t.keys[j + 2] !== 0 && s >= this.#horizon) f(t.keys[j]!, t.keys[j + 1]!, t.keys[j + 2]!, s)
    }
    const old = this.#old
    if (old === null) return
    for (let i = this.#next; i < old.capacity; i++) {
      const s = old.stamps[stampAt(i)]!
      const j = i * WORDS
      if (old.keys[j + 2] === 0 || s < this.#horizon) continue
      const a = old.keys[j]!, b = old.keys[j + 1]!, c = old.keys[j + 2]!
      if (this.#find(t, a, b, c) < 0) f(a, b, c, s)
    }
  }

  /** The live ids as base64 blocks: no string per id, and a restore that copies bytes. */
  toSnapshot(): SeenSnapshot {
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
    this.#eachLive((a, b, c, stamp) => {
      kb[n * 3] = a
      kb[n * 3 + 1] = b
      kb[n * 3 + 2] = c
      sb[n] = stamp
      if (++n === BLOCK) flush()
    })
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
      // Snapshots written before the last key word's lowest bit was always set get it here, as `keyOf` sets it.
      for (let i = 0; i < sb.length; i++) seen.#insert(kb[i * 3]!, kb[i * 3 + 1]!, (kb[i * 3 + 2]! | 1) >>> 0, sb[i]!, true)
      yield
    }
    return seen
  }
}
