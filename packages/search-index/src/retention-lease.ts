/**
 * A lease in Elasticsearch, so that of several indexers one runs retention at a time. One document holds
 * who has it and until when; it is taken with `op_type=create` when there is none, and otherwise only
 * with the sequence number and primary term it was read at, so of two instances that read the same
 * expired lease exactly one write succeeds. Nothing else coordinates them: Elasticsearch is the one
 * thing every indexer already shares.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Client } from '@elastic/elasticsearch'
import { isAlreadyExists } from './errors.ts'

/** The small index holding the lease: outside every live alias and pattern (`<prefix>-alerts-*` etc.). */
export const retentionLeaseIndex = (prefix: string) => `${prefix}-retention-lease`
const LEASE_ID = 'retention'

interface LeaseDocument {
  holder: string
  updatedAt: string
  expiresAt: string
  /** A run is under way (false: the holder finished and keeps the lease only to space the runs). */
  running: boolean
}

export type Acquired = { ok: true } | { ok: false; holder: string; expiresAt: string }

/** A name for this process as a lease holder: host, pid and a random part, so a restarted pid differs. */
export const leaseHolderName = (what: string) => `${what}@${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`

const isConflict = (err: unknown) => (err as { meta?: { statusCode?: number } }).meta?.statusCode === 409

export class RetentionLease {
  private position: { seqNo: number; primaryTerm: number } | undefined
  private readonly es: Client
  private readonly index: string
  readonly holder: string

  constructor(es: Client, prefix: string, holder: string) {
    this.es = es
    this.index = retentionLeaseIndex(prefix)
    this.holder = holder
  }

  private ready = false

  private async ensureIndex(): Promise<void> {
    if (this.ready) return
    if (!(await this.es.indices.exists({ index: this.index }))) await this.createIndex()
    // Another instance may have created it a moment ago: its shard may still be starting.
    await this.es.cluster.health({ index: this.index, wait_for_status: 'yellow', timeout: '30s' })
    this.ready = true
  }

  private async createIndex(): Promise<void> {
    await this.es.indices.create({
      index: this.index,
      settings: { number_of_shards: 1, auto_expand_replicas: '0-1' },
      mappings: { dynamic: false, properties: { holder: { type: 'keyword' }, updatedAt: { type: 'date' }, expiresAt: { type: 'date' } } },
    }).catch((err: unknown) => {
      // Another indexer created it between our look and our create: that is what we wanted.
      if (!isAlreadyExists(err)) throw err
    })
  }

  /**
   * The lease document. Right after the index was created (by us or by another instance) its shard may be
   * started on the master and not yet on this node, so a 503 (no shard available) is retried for a while.
   */
  private async read() {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.es.get<LeaseDocument>({ index: this.index, id: LEASE_ID }, { ignore: [404] })
      } catch (err) {
        if ((err as { meta?: { statusCode?: number } }).meta?.statusCode !== 503 || attempt >= 40) throw err
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
  }

  /**
   * Takes the lease until `now + durationMs` when nobody else holds it; says who does otherwise. With
   * `takeResting`, also a lease whose holder finished its run and keeps it only to space the runs (an
   * operator's one-shot run), never one with a run under way.
   */
  async acquire(now: number, durationMs: number, { takeResting = false } = {}): Promise<Acquired> {
    await this.ensureIndex()
    const doc: LeaseDocument = { holder: this.holder, updatedAt: new Date(now).toISOString(), expiresAt: new Date(now + durationMs).toISOString(), running: true }
    const current = await this.read()
    try {
      if (!current.found) {
        const r = await this.es.index({ index: this.index, id: LEASE_ID, op_type: 'create', document: doc, refresh: false })
        this.position = { seqNo: r._seq_no!, primaryTerm: r._primary_term! }
        return { ok: true }
      }
      const held = current._source!
      const resting = takeResting && held.running === false
      if (held.holder !== this.holder && Date.parse(held.expiresAt) > now && !resting) return { ok: false, holder: held.holder, expiresAt: held.expiresAt }
      const r = await this.es.index({ index: this.index, id: LEASE_ID, if_seq_no: current._seq_no!, if_primary_term: current._primary_term!, document: doc, refresh: false })
      this.position = { seqNo: r._seq_no!, primaryTerm: r._primary_term! }
      return { ok: true }
    } catch (err) {
      if (!isConflict(err)) throw err
      // Someone else wrote it between our read and our write: theirs, now.
      const winner = await this.read()
      return { ok: false, holder: winner._source?.holder ?? 'unknown', expiresAt: winner._source?.expiresAt ?? new Date(now).toISOString() }
    }
  }

  /**
   * Moves the expiry to `now + durationMs` while we still hold the lease. False when it is no longer ours
   * (it expired and someone took it): the caller carries on, as every delete is idempotent.
   */
  async extend(now: number, durationMs: number, running = true, options: { requestTimeout?: number } = {}): Promise<boolean> {
    const position = this.position
    if (!position) return false
    try {
      const r = await this.es.index({
        index: this.index, id: LEASE_ID, if_seq_no: position.seqNo, if_primary_term: position.primaryTerm, refresh: false,
        document: { holder: this.holder, updatedAt: new Date(now).toISOString(), expiresAt: new Date(now + durationMs).toISOString(), running } satisfies LeaseDocument,
      }, options)
      this.position = { seqNo: r._seq_no!, primaryTerm: r._primary_term! }
      return true
    } catch (err) {
      if (!isConflict(err)) throw err
      this.position = undefined
      return false
    }
  }

  /** Gives the lease up at once (after a failed run), so the next attempt of any instance may retry. */
  async release(now: number, options: { requestTimeout?: number } = {}): Promise<boolean> {
    return this.extend(now, 0, false, options)
  }
}
