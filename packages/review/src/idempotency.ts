import { createHash } from 'node:crypto'

/** What a client may send as Idempotency-Key: 1–200 visible ASCII characters (a UUID fits well). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,200}$/

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

/** JSON with object keys sorted: two bodies that differ only in key order or spacing are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** What makes two requests with one key the same request: the method, the target and the body. */
export function requestFingerprint(method: string, target: string, body: unknown): string {
  return sha256(`${method}\n${target}\n${canonicalJson(body)}`)
}

/**
 * The id of one command of a keyed request, derived rather than random: a retry after a restart, which
 * forgot the key, still publishes the same id, and the correlator applies a command id once.
 */
export function commandIdFor(key: string, fingerprint: string, commandType: string): string {
  return `cmd-${sha256(`${key}\n${fingerprint}\n${commandType}`).slice(0, 40)}`
}

export interface StoredAnswer {
  status: number
  body: unknown
  /** Memory the answer holds besides its body (what a retry needs to finish it), counted with the body's bytes. */
  heldBytes?: number
}

const bytesOf = (key: string, answer: StoredAnswer) => key.length + JSON.stringify(answer.body ?? null).length + (answer.heldBytes ?? 0)

export interface IdempotencyLimits {
  /** How long an answer is replayed. */
  ttlMs: number
  /** How many keys are kept; the oldest go first. */
  maxKeys: number
  /** How many bytes of answers are kept; the oldest go first. */
  maxBytes: number
}

interface Entry<A> {
  fingerprint: string
  at: number
  answer: A | undefined
  bytes: number
}

export type Begin<A extends StoredAnswer = StoredAnswer> =
  | { kind: 'new'; finish: (answer: A) => void; abandon: () => void }
  | { kind: 'replay'; answer: A }
  | { kind: 'in-flight' }
  | { kind: 'mismatch' }

/**
 * Answers of keyed requests, in memory and bounded by age, count and bytes. Only successful answers are
 * kept: a request that failed may be retried with its key, and publishes the same command ids again. `A`
 * is the caller's answer, which may carry what a retry needs to finish an answer kept before its outcome
 * was known (`update` then keeps the newer one).
 */
export class IdempotencyStore<A extends StoredAnswer = StoredAnswer> {
  readonly #limits: IdempotencyLimits
  readonly #entries = new Map<string, Entry<A>>()
  #bytes = 0

  constructor(limits: IdempotencyLimits) {
    this.#limits = limits
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * What `begin` would say of `key`, without taking it when it is unknown: a keyed retry's kept answer, read
   * before anything else; and all a client that asks for the kept answer only is told, to whom a key
   * forgotten (its age, the bounds, a restart) is no licence to publish again.
   */
  lookup(key: string, fingerprint: string, nowMs: number): Exclude<Begin<A>, { kind: 'new' }> | { kind: 'unknown' } {
    this.#evict(nowMs)
    const existing = this.#entries.get(key)
    if (!existing) return { kind: 'unknown' }
    if (existing.fingerprint !== fingerprint) return { kind: 'mismatch' }
    return existing.answer ? { kind: 'replay', answer: existing.answer } : { kind: 'in-flight' }
  }

  begin(key: string, fingerprint: string, nowMs: number): Begin<A> {
    const kept = this.lookup(key, fingerprint, nowMs)
    if (kept.kind !== 'unknown') return kept
    const entry: Entry<A> = { fingerprint, at: nowMs, answer: undefined, bytes: 0 }
    this.#entries.set(key, entry)
    let open = true
    return {
      kind: 'new',
      finish: (answer) => {
        if (!open || this.#entries.get(key) !== entry) return
        open = false
        entry.answer = answer
        entry.bytes = bytesOf(key, answer)
        this.#bytes += entry.bytes
        this.#evict(nowMs)
      },
      abandon: () => {
        if (!open) return
        open = false
        if (this.#entries.get(key) === entry) this.#entries.delete(key)
      },
    }
  }

  /**
   * Keeps `answer` for `key` in place of `expected`, the answer kept for this request that the caller read (one
   * kept before its outcome was known, which a retry has waited on again), and answers what is kept then.
   * Compare and set: two retries of one key wait side by side, and the slower, which may have learnt less (its
   * look at the index failed), would otherwise replace the final answer the other kept since. Nothing when the
   * key is forgotten, another request's, or its first request still runs. The key keeps its age: it is not
   * kept longer for being retried.
   */
  update(key: string, fingerprint: string, expected: A, answer: A, nowMs: number): A | undefined {
    const entry = this.#entries.get(key)
    if (!entry?.answer || entry.fingerprint !== fingerprint) return undefined
    if (entry.answer !== expected) return entry.answer
    this.#bytes -= entry.bytes
    entry.answer = answer
    entry.bytes = bytesOf(key, answer)
    this.#bytes += entry.bytes
    this.#evict(nowMs)
    return this.#entries.get(key)?.answer
  }

  #evict(nowMs: number): void {
    // Map order is insertion order: the oldest key first.
    for (const [key, e] of this.#entries) {
      const over = this.#entries.size > this.#limits.maxKeys || this.#bytes > this.#limits.maxBytes
      if (!over && nowMs - e.at < this.#limits.ttlMs) break
      // An in-flight request is never dropped for size, only when it is older than the ttl.
      if (!e.answer && nowMs - e.at < this.#limits.ttlMs) continue
      this.#entries.delete(key)
      this.#bytes -= e.bytes
    }
  }
}
