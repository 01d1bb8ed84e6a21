import { open, readdir, readFile, rename, rm, mkdir, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { backoffMs } from '@opsreview/lifecycle/backoff'
import { SpoolClosedError, SpoolFullError, SpoolRecordTooLargeError } from './errors.ts'
import { defaultLockTiming, SpoolLock } from './lock.ts'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

export { SpoolClosedError, SpoolFullError, SpoolRecordTooLargeError } from './errors.ts'

/** One message waiting for Kafka. */
export interface SpoolRecord {
  topic: string
  key: string
  value: string
}

/** Why the drain gave up on a record: stable codes for the dead-letter envelope's `reason`. */
export type SpoolDeadLetterCode = 'record-rejected' | 'corrupt-record' | 'record-too-large'

export interface SpoolDeadLetterReason {
  code: SpoolDeadLetterCode
  /** The human detail: the publish error, or what is wrong with the line. */
  error: string
  /** Where the record sat in the spool. */
  segment: number
  offset: number
  /** The line as text (cut to 64 KiB) when it is not a record: corrupt or too large to read. */
  raw?: string
}

/**
 * Takes a record the drain will not retry, so that it is kept somewhere durable; resolves once it is.
 * `record` is undefined for a line that is not a record. A rejection with `retriable: false` (the
 * dead-letter topic will not take it either) sends it to the spool's own `dead-letters.ndjson`; any other
 * rejection is retried, in order, like a failed publish.
 */
export type SpoolDeadLetter = (record: SpoolRecord | undefined, reason: SpoolDeadLetterReason) => Promise<void>

export interface SpoolOptions {
  logger: Logger
  /** A new segment file starts past this size; drained segments are deleted. */
  segmentBytes?: number
  /** Records per publish call while draining. */
  drainBatch?: number
  /** Bytes of records per publish call while draining (a larger record still goes, alone). */
  drainBytes?: number
  /** `append` refuses a record larger than this; a longer line found on disk is dead-lettered. */
  maxRecordBytes?: number
  /**
   * Bytes of records not yet drained (across segments; at open, what is on disk past the cursor) beyond
   * which `append` refuses with SpoolFullError; unlimited when absent. The disk holds up to about a segment
   * more (a segment is deleted only once drained to its end). A record larger than this never fits and is
   * refused as too large.
   */
  maxBytes?: number
  /** First wait after a failed publish; each consecutive failure doubles it, up to `maxRetryDelayMs`. */
  retryDelayMs?: number
  maxRetryDelayMs?: number
  /** While publishing keeps failing, one log line per this interval. */
  retryLogIntervalMs?: number
  /** Milliseconds since the epoch; for the age of the oldest record. */
  clock?: () => number
  /** The lock's lease (lock.ts): touched this often (5 s), taken over once untouched this long (30 s). */
  lockRefreshMs?: number
  lockStaleMs?: number
  /**
   * Called once another process took the directory over (this one stood still past the lease): the spool
   * has stopped, and a receiver that goes on taking webhooks would only refuse them.
   */
  onLockLost?: () => void
}

export interface DrainOptions {
  /** Where records go that Kafka will never take, and lines that are not records. */
  deadLetter?: SpoolDeadLetter
}

interface Cursor {
  segment: number
  offset: number
}

/** A line read from the spool: a record, or a line the drain cannot publish. */
type Item =
  | { kind: 'record'; record: SpoolRecord; at: number | undefined; offset: number; next: number }
  | { kind: 'bad'; code: 'corrupt-record' | 'record-too-large'; error: string; raw: string; offset: number; next: number }

const READ_BLOCK = 1024 * 1024
// A corrupt line's text kept in its dead letter: a whole spooled event (up to 128 KiB, at most twice that
// escaped in its line) with room, so the operator can mend and replay it; escaped again in the letter, it
// stays under Kafka's 1 MB.
const RAW_BYTES = 260 * 1024
const DEAD_LETTER_FILE = 'dead-letters.ndjson'

const segmentName = (n: number) => `segment-${String(n).padStart(9, '0')}.ndjson`
const segmentNumber = (name: string) => Number(/^segment-(\d+)\.ndjson$/.exec(name)?.[1] ?? NaN)

/**
 * A local, durable, in-order queue in front of Kafka for senders that do not retry (Pingdom, people's
 * reports). `append` resolves only after the records are fsync'ed, so a 202 survives a crash; the drainer
 * publishes them to Kafka in append order and moves a persisted (fsync'ed) cursor after each
 * acknowledgement. A crash between publish and cursor write republishes a few records: their event ids
 * dedup them later. One process owns a spool directory (a lock file, a lease: see `SpoolLock`).
 *
 * Nothing stalls the drain: a torn last line (a crash mid-append, never acknowledged) is cut off at open;
 * a line that is not a record, and a record Kafka refuses for good (`retriable: false`), go to the
 * dead-letter callback and the drain moves on. A segment is deleted only once the cursor has passed its
 * last byte.
 */
export class Spool {
  readonly #dir: string
  readonly #logger: Logger
  readonly #segmentBytes: number
  readonly #drainBatch: number
  readonly #drainBytes: number
  readonly #maxRecordBytes: number
  readonly #maxBytes: number
  readonly #retryDelayMs: number
  readonly #maxRetryDelayMs: number
  readonly #retryLogIntervalMs: number
  readonly #clock: () => number
  #writeSegment: number
  #writeHandle: FileHandle
  /** Bytes of the write segment that are fsync'ed: always the end of a whole line. */
  #writeSize: number
  /** A failed write may have left bytes past #writeSize; they are cut off before the next write. */
  #dirty = false
  #cursor: Cursor
  #depth: number
  /** Bytes of fsync'ed records past the cursor, in every segment: what `maxBytes` bounds. */
  #bytes: number
  /** Bytes of appends waiting for or in a flush: counted against `maxBytes` before they are written. */
  #queuedBytes = 0
  /** An append was refused at `maxBytes` and the drain has not moved since: the warning is logged once a spell. */
  #full = false
  #oldestAt: number | undefined
  #pending: { lines: string; count: number; at: number; resolve: () => void; reject: (e: Error) => void }[] = []
  #writing: Promise<void> | undefined
  /** An append met ENOSPC since the last rotation the drain asked for. */
  #diskFull = false
  /** Ends the current wait of the drain; `#wakeOnAppend` says whether an append may end it. */
  #wake: (() => void) | undefined
  #wakeOnAppend = false
  #draining: Promise<void> | undefined
  #closed = false
  #failures = 0
  #failingSince = 0
  #lastFailureLog = 0
  readonly #lock: SpoolLock
  readonly #onLockLost: (() => void) | undefined

  private constructor(dir: string, opts: SpoolOptions, state: { lock: SpoolLock; writeSegment: number; handle: FileHandle; size: number; cursor: Cursor; depth: number; bytes: number }) {
    this.#dir = dir
    this.#lock = state.lock
    this.#onLockLost = opts.onLockLost
    this.#logger = opts.logger
    this.#segmentBytes = opts.segmentBytes ?? 16 * 1024 * 1024
    this.#drainBatch = opts.drainBatch ?? 500
    this.#drainBytes = opts.drainBytes ?? 4 * 1024 * 1024
    this.#maxRecordBytes = opts.maxRecordBytes ?? 64 * 1024 * 1024
    this.#maxBytes = opts.maxBytes ?? Infinity
    this.#retryDelayMs = opts.retryDelayMs ?? 1000
    this.#maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000
    this.#retryLogIntervalMs = opts.retryLogIntervalMs ?? 60_000
    this.#clock = opts.clock ?? Date.now
    this.#writeSegment = state.writeSegment
    this.#writeHandle = state.handle
    this.#writeSize = state.size
    this.#cursor = state.cursor
    this.#depth = state.depth
    this.#bytes = state.bytes
  }

  static async open(dir: string, opts: SpoolOptions): Promise<Spool> {
    await mkdir(dir, { recursive: true })
    let spool: Spool | undefined
    // A loss noticed while the spool is still being read at open is applied once it is open.
    let lost = false
    const lock = await SpoolLock.take(dir, opts.logger, {
      refreshMs: opts.lockRefreshMs ?? defaultLockTiming.refreshMs, staleMs: opts.lockStaleMs ?? defaultLockTiming.staleMs,
    }, () => { lost = true; if (spool) spool.#lockLost() })
    try {
      spool = await Spool.#openLocked(dir, opts, lock)
      if (lost) spool.#lockLost()
      return spool
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  static async #openLocked(dir: string, opts: SpoolOptions, lock: SpoolLock): Promise<Spool> {
    await rm(path.join(dir, 'cursor.json.tmp'), { force: true })
    let segments = (await readdir(dir)).map(segmentNumber).filter((n) => Number.isInteger(n)).sort((a, b) => a - b)
    const cursor = await readCursor(dir, segments[0] ?? 1, opts.logger)
    if (segments.length > 0 && cursor.segment < segments[0]!) Object.assign(cursor, { segment: segments[0]!, offset: 0 })
    // The cursor only moves to a segment once it exists, and a drained segment is deleted before the cursor
    // leaves it: a cursor naming a missing segment above an existing one (past the last, or between two) is
    // corrupt, not a sign that the segments before it were drained. Deleting them would lose their records.
    if (segments.length > 0 && cursor.segment > segments[0]! && !segments.includes(cursor.segment)) {
      opts.logger.warn({ dir, cursor, firstSegment: segments[0], lastSegment: segments.at(-1) }, 'spool cursor names a segment that is not there: draining again from the first segment')
      Object.assign(cursor, { segment: segments[0]!, offset: 0 })
    }
    // Segments before the cursor are drained: a crash came between moving the cursor and deleting them (in
    // a version that saved the cursor first).
    for (const n of segments.filter((s) => s < cursor.segment)) await rm(path.join(dir, segmentName(n)), { force: true })
    segments = segments.filter((s) => s >= cursor.segment)
    const writeSegment = Math.max(segments.at(-1) ?? cursor.segment, cursor.segment)

    const handle = await open(path.join(dir, segmentName(writeSegment)), 'a+')
    let size: number
    try {
      await fsyncDir(dir)
      size = await cutTornTail(handle, cursor.segment === writeSegment ? cursor.offset : 0, opts.logger, writeSegment)
    } catch (err) {
      await handle.close()
      throw err
    }
    if (cursor.segment === writeSegment && cursor.offset > size) {
      opts.logger.warn({ segment: writeSegment, cursor: cursor.offset, size }, 'spool cursor past the end of its segment: resuming at the end')
      cursor.offset = size
    }

    let depth = 0
    let waiting = 0
    for (const n of segments) {
      const bytes = await readFile(path.join(dir, segmentName(n))).catch(() => Buffer.alloc(0))
      const from = n === cursor.segment ? cursor.offset : 0
      const limit = n === writeSegment ? size : bytes.length
      depth += countLines(bytes.subarray(from, limit))
      waiting += Math.max(0, limit - from)
    }
    const spool = new Spool(dir, opts, { lock, writeSegment, handle, size, cursor, depth, bytes: waiting })
    if (depth > 0) {
      await spool.#skipDrainedSegments()
      await spool.#read(1)
      opts.logger.info({ depth, dir, oldestAgeMs: spool.oldestAgeMs }, 'spool has records from before the restart')
    }
    return spool
  }

  /** Records appended and not yet acknowledged by Kafka (nor dead-lettered). */
  get depth(): number {
    return this.#depth
  }

  /** The limit of `bytes` (`SpoolOptions.maxBytes`); Infinity when unlimited. */
  get maxBytes(): number {
    return this.#maxBytes
  }

  /** Bytes of the records counted in `depth`, as on disk: what `maxBytes` bounds. */
  get bytes(): number {
    return this.#bytes
  }

  /** How long the oldest record not yet acknowledged by Kafka has waited; 0 when the spool is empty. */
  get oldestAgeMs(): number {
    if (this.#depth === 0 || this.#oldestAt === undefined) return 0
    return Math.max(0, this.#clock() - this.#oldestAt)
  }

  /**
   * Resolves once the records are on disk (fsync'ed). Concurrent appends share one fsync. Rejects, with
   * nothing appended, with SpoolRecordTooLargeError when a record is over `maxRecordBytes` or the records
   * together over `maxBytes` (they would never fit), and with SpoolFullError when the records would take the
   * bytes not yet drained past `maxBytes`.
   */
  append(records: readonly SpoolRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new SpoolClosedError())
    if (records.length === 0) return Promise.resolve()
    const at = this.#clock()
    const lines: string[] = []
    // `maxBytes` counts the newline too. Only here, not when reading: a spool reopened with a smaller limit
    // still drains what it holds.
    const recordLimit = Math.min(this.#maxRecordBytes, this.#maxBytes - 1)
    for (const { topic, key, value } of records) {
      const line = JSON.stringify({ topic, key, value, at })
      const bytes = Buffer.byteLength(line)
      if (bytes > recordLimit) return Promise.reject(new SpoolRecordTooLargeError(bytes, recordLimit))
      lines.push(line + '\n')
    }
    const text = lines.join('')
    const bytes = Buffer.byteLength(text)
    // Refused as full, retriable, a batch no drain can make room for would be retried for ever.
    if (bytes > this.#maxBytes) return Promise.reject(new SpoolRecordTooLargeError(bytes, this.#maxBytes))
    if (this.#bytes + this.#queuedBytes + bytes > this.#maxBytes) {
      const err = new SpoolFullError(this.#bytes + this.#queuedBytes, bytes, this.#maxBytes)
      if (!this.#full) this.#logger.warn({ bytes: err.bytes, maxBytes: this.#maxBytes, depth: this.#depth, oldestAgeMs: this.oldestAgeMs }, 'spool full: appends refused until the drain makes room')
      this.#full = true
      return Promise.reject(err)
    }
    this.#queuedBytes += bytes
    return new Promise((resolve, reject) => {
      this.#pending.push({ lines: text, count: records.length, at, resolve, reject })
      this.#writing ??= this.#flushWrites()
    })
  }

  async #flushWrites(): Promise<void> {
    // Started as `this.#writing ??= …`: a flush that ended before its first await (a lock read that threw at
    // once) cleared #writing before that assignment stored its settled promise, and no flush started again.
    await null
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0)
      const bytes = Buffer.from(batch.map((p) => p.lines).join(''))
      try {
        // A process that stood still past the lease and resumed finds its lock taken over before it writes.
        this.#ensureOwned()
        if (this.#dirty) {
          await this.#writeHandle.truncate(this.#writeSize)
          this.#dirty = false
        }
        // Here too, not only between appends: appends back to back keep the drain's turn from ever coming.
        if (this.#writeSegmentHoldsFullDisk()) {
          await this.#rotate()
          this.#diskFull = false
        }
        if (this.#writeSize > 0 && this.#writeSize + bytes.length > this.#segmentBytes) await this.#rotate()
        this.#dirty = true
        await writeAll(this.#writeHandle, bytes)
        await this.#writeHandle.datasync()
        this.#dirty = false
        this.#writeSize += bytes.length
        // On disk, and drained as any record there, whatever the check below finds: counted (a check that
        // failed to read left them uncounted, and the depth said drained while records waited).
        this.#oldestAt ??= batch[0]!.at
        for (const p of batch) this.#depth += p.count
        this.#bytes += bytes.length
        // Taken over during the write: the new owner may have deleted this segment, or read past where these
        // bytes landed, so they are not acknowledged (nor cut: the file is the new owner's now).
        this.#ensureOwned()
        for (const p of batch) p.resolve()
        if (this.#wakeOnAppend) this.#wake?.()
      } catch (err) {
        // Not acknowledged; a partial write must not stay in front of the next append's lines.
        if (this.#dirty) {
          await this.#writeHandle.truncate(this.#writeSize).then(() => { this.#dirty = false }, () => undefined)
        }
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') this.#diskFull = true
        if (!(err instanceof SpoolClosedError)) this.#logger.error({ err, records: batch.reduce((n, p) => n + p.count, 0) }, 'spool append failed')
        for (const p of batch) p.reject(err as Error)
      } finally {
        this.#queuedBytes -= bytes.length
      }
    }
    this.#writing = undefined
  }

  /** A rotation the drain asks for, in the write path's turn: appends that come meanwhile are written after it. */
  async #rotateForDrain(): Promise<void> {
    const rotating = this.#rotate()
    // The chain ends with the flush it starts, so that close(), awaiting #writing, waits for that flush too.
    this.#writing = rotating.then(() => undefined, () => undefined).then(() => {
      this.#writing = this.#pending.length > 0 ? this.#flushWrites() : undefined
      return this.#writing
    })
    await rotating
  }

  async #rotate(): Promise<void> {
    const next = this.#writeSegment + 1
    const handle = await open(path.join(this.#dir, segmentName(next)), 'a+')
    try {
      await fsyncDir(this.#dir)
    } catch (err) {
      await handle.close()
      throw err
    }
    await this.#writeHandle.close().catch((err: unknown) => this.#logger.warn({ err }, 'spool segment did not close cleanly'))
    this.#writeHandle = handle
    this.#writeSegment = next
    this.#writeSize = 0
  }

  /**
   * Starts publishing spooled records in order; `publish` must resolve only after Kafka acknowledged.
   * A publish error with `retriable: false` (KafkaRecordRejectedError) is final: the records are resent
   * one by one and the refused ones go to `deadLetter`. Other errors are retried with back-off.
   */
  startDraining(publish: (records: SpoolRecord[]) => Promise<void>, opts: DrainOptions = {}): void {
    this.#draining ??= this.#drainLoop(publish, opts.deadLetter)
  }

  async #drainLoop(publish: (records: SpoolRecord[]) => Promise<void>, deadLetter: SpoolDeadLetter | undefined): Promise<void> {
    while (!this.#closed) {
      try {
        if (await this.#drainOnce(publish, deadLetter)) continue
        await this.#sleep(1000, true)
      } catch (err) {
        // The lock was lost: the spool is closed, nothing is to be retried.
        if (err instanceof SpoolClosedError) return
        // The spool's own files, or a dead-letter callback that could not keep a record: retry in order.
        this.#failed(err, 'spool drain failed')
        await this.#sleep(this.#backoffMs())
      }
    }
  }

  /** One step of the drain; false when there is nothing to do until the next append. */
  async #drainOnce(publish: (records: SpoolRecord[]) => Promise<void>, deadLetter: SpoolDeadLetter | undefined): Promise<boolean> {
    const items = await this.#read(this.#drainBatch)
    if (items.length === 0) return this.#skipDrainedSegments()
    for (let i = 0; i < items.length && !this.#closed;) {
      const item = items[i]!
      if (item.kind === 'bad') {
        await this.#deadLetter(deadLetter, undefined, { code: item.code, error: item.error, raw: item.raw, segment: this.#cursor.segment, offset: item.offset })
        await this.#advance(item.next, 1)
        i++
        continue
      }
      let j = i + 1
      while (j < items.length && items[j]!.kind === 'record') j++
      const run = items.slice(i, j) as Extract<Item, { kind: 'record' }>[]
      if (!(await this.#publishRun(run, publish, deadLetter))) {
        await this.#sleep(this.#backoffMs())
        return true
      }
      i = j
    }
    return true
  }

  /** Publishes records in order and moves the cursor past them; false when Kafka failed and it is worth retrying. */
  async #publishRun(run: Extract<Item, { kind: 'record' }>[], publish: (records: SpoolRecord[]) => Promise<void>, deadLetter: SpoolDeadLetter | undefined): Promise<boolean> {
    try {
      await publish(run.map((r) => r.record))
    } catch (err) {
      if ((err as { retriable?: unknown }).retriable !== false) {
        this.#failed(err, 'spool drain paused: Kafka did not acknowledge')
        return false
      }
      const refused = run.length > 1 ? refusedIndexes(err, run.length) : undefined
      if (refused) {
        // Kafka took every other record of the run: resending them one by one wrote each of them twice.
        for (const { index, reason } of refused) {
          const r = run[index]!
          this.#logger.warn({ err, topic: r.record.topic, key: r.record.key, bytes: r.next - r.offset, segment: this.#cursor.segment, offset: r.offset }, 'spool record refused by Kafka for good: dead-lettering it')
          await this.#deadLetter(deadLetter, r.record, { code: 'record-rejected', error: `Kafka will not take it: ${reason}`, segment: this.#cursor.segment, offset: r.offset })
        }
        this.#recovered()
        await this.#advance(run.at(-1)!.next, run.length)
        return true
      }
      if (run.length > 1) {
        // The error does not say which records were refused: find them. The others go through (some of
        // them twice, which their ids dedup).
        for (const r of run) if (!(await this.#publishRun([r], publish, deadLetter))) return false
        return true
      }
      const [r] = run as [Extract<Item, { kind: 'record' }>]
      this.#logger.warn({ err, topic: r.record.topic, key: r.record.key, bytes: r.next - r.offset, segment: this.#cursor.segment, offset: r.offset }, 'spool record refused by Kafka for good: dead-lettering it')
      await this.#deadLetter(deadLetter, r.record, { code: 'record-rejected', error: (err as Error).message, segment: this.#cursor.segment, offset: r.offset })
      await this.#advance(r.next, 1)
      return true
    }
    this.#recovered()
    await this.#advance(run.at(-1)!.next, run.length)
    return true
  }

  async #deadLetter(deadLetter: SpoolDeadLetter | undefined, record: SpoolRecord | undefined, reason: SpoolDeadLetterReason): Promise<void> {
    if (reason.code !== 'record-rejected') this.#logger.warn({ ...reason, raw: undefined, rawBytes: reason.raw?.length }, 'spool line is not a record it can publish: dead-lettering it')
    if (deadLetter) {
      try {
        await deadLetter(record, reason)
        return
      } catch (err) {
        if ((err as { retriable?: unknown }).retriable !== false) throw err
        this.#logger.error({ err, code: reason.code }, 'dead-letter topic refused the record: keeping it in the spool\'s dead-letters file')
      }
    }
    const file = await open(path.join(this.#dir, DEAD_LETTER_FILE), 'a+')
    try {
      // A crash during an earlier write left half a line, and this letter (often that record's again, as the
      // cursor had not moved) would be glued to it: one line no JSON reader takes. It starts a line of its own.
      const { size } = await file.stat()
      const last = Buffer.alloc(1)
      const torn = size > 0 && (await file.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 0x0a
      await writeAll(file, Buffer.from((torn ? '\n' : '') + JSON.stringify({ at: new Date(this.#clock()).toISOString(), reason, record }) + '\n'))
      await file.datasync()
    } finally {
      await file.close()
    }
    this.#logger.error({ code: reason.code, segment: reason.segment, offset: reason.offset, file: DEAD_LETTER_FILE }, 'spool record kept in the local dead-letters file')
  }

  async #advance(offset: number, count: number): Promise<void> {
    this.#bytes = Math.max(0, this.#bytes - (offset - this.#cursor.offset))
    this.#full = false
    this.#cursor = { segment: this.#cursor.segment, offset }
    this.#depth = Math.max(0, this.#depth - count)
    if (this.#depth === 0) this.#oldestAt = undefined
    await this.#saveCursor()
  }

  /**
   * Moves the cursor to the next segment when the current one is not being written and the cursor has
   * passed its last byte, then deletes it. Returns whether it moved.
   */
  async #skipDrainedSegments(): Promise<boolean> {
    let moved = false
    if (this.#writing === undefined && this.#writeSegmentHoldsFullDisk()) {
      await this.#rotateForDrain()
      this.#diskFull = false
    }
    while (this.#cursor.segment < this.#writeSegment) {
      const done = this.#cursor.segment
      const size = await fileSize(path.join(this.#dir, segmentName(done)))
      if (this.#cursor.offset < size) break
      // Deleted before the cursor is saved: on a full disk saving needs a block that only this deletion frees.
      // A restart that finds the cursor on a deleted segment goes on from the next one (open). The cursor
      // moves once the file is gone: a deletion that failed is tried again, never left behind the cursor.
      this.#ensureOwned()
      await rm(path.join(this.#dir, segmentName(done)), { force: true })
      this.#cursor = { segment: done + 1, offset: 0 }
      moved = true
      await this.#saveCursor()
    }
    return moved
  }

  /**
   * Only a segment the drain has left can be deleted, and the one being written is never left: after an
   * append met a full disk, once the drain has passed that segment's last byte (and no refused bytes wait
   * to be cut from it), a new segment lets the drain delete it.
   */
  #writeSegmentHoldsFullDisk(): boolean {
    return this.#diskFull && !this.#dirty && this.#cursor.segment === this.#writeSegment && this.#writeSize > 0 && this.#cursor.offset >= this.#writeSize
  }

  /**
   * Up to `max` lines from the cursor, of any length up to `maxRecordBytes`, within `drainBytes` (the
   * first always). Only the fsync'ed part of the write segment is read.
   */
  async #read(max: number): Promise<Item[]> {
    const segment = this.#cursor.segment
    const writing = segment === this.#writeSegment
    const handle = await open(path.join(this.#dir, segmentName(segment)), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (!handle) return []
    try {
      const stat = await handle.stat()
      const limit = writing ? Math.min(this.#writeSize, stat.size) : stat.size
      const items: Item[] = []
      let pos = this.#cursor.offset
      let buf = Buffer.alloc(0)
      let bufStart = pos
      let recordBytes = 0
      while (items.length < max && pos < limit && (items.length === 0 || recordBytes < this.#drainBytes)) {
        const nl = buf.indexOf(0x0a, pos - bufStart)
        if (nl >= 0) {
          const line = buf.subarray(pos - bufStart, nl)
          items.push(this.#parse(line, pos, bufStart + nl + 1))
          recordBytes += line.length
          pos = bufStart + nl + 1
          continue
        }
        const have = bufStart + buf.length
        const partial = have - pos
        if (partial > this.#maxRecordBytes) {
          const next = await skipLine(handle, have, limit)
          items.push({ kind: 'bad', code: 'record-too-large', error: `a line of ${next - pos} bytes or more is over the ${this.#maxRecordBytes}-byte limit`, raw: rawText(buf.subarray(pos - bufStart)), offset: pos, next })
          pos = next
          buf = Buffer.alloc(0)
          bufStart = pos
          continue
        }
        if (have >= limit) {
          // Only an older segment can end without a newline (the write segment's torn tail is cut at open).
          if (!writing) items.push({ kind: 'bad', code: 'corrupt-record', error: 'the segment ends inside a line (torn write)', raw: rawText(buf.subarray(pos - bufStart)), offset: pos, next: limit })
          pos = limit
          break
        }
        // Grow geometrically, so a 10 MiB line takes a few reads, not ten.
        const want = Math.min(Math.max(READ_BLOCK, partial), limit - have)
        const more = Buffer.allocUnsafe(want)
        const { bytesRead } = await handle.read(more, 0, want, have)
        if (bytesRead === 0) break
        buf = Buffer.concat([buf.subarray(pos - bufStart), more.subarray(0, bytesRead)])
        bufStart = pos
      }
      const first = items[0]
      if (first) this.#oldestAt = (first.kind === 'record' ? first.at : undefined) ?? stat.mtimeMs
      return items
    } finally {
      await handle.close()
    }
  }

  #parse(line: Buffer, offset: number, next: number): Item {
    if (line.length > this.#maxRecordBytes) {
      return { kind: 'bad', code: 'record-too-large', error: `a line of ${line.length} bytes is over the ${this.#maxRecordBytes}-byte limit`, raw: rawText(line), offset, next }
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(line.toString('utf8'))
    } catch (err) {
      return { kind: 'bad', code: 'corrupt-record', error: `not JSON: ${(err as Error).message}`, raw: rawText(line), offset, next }
    }
    const r = parsed as Partial<SpoolRecord & { at: unknown }> | null
    if (!r || typeof r !== 'object' || typeof r.topic !== 'string' || typeof r.key !== 'string' || typeof r.value !== 'string') {
      return { kind: 'bad', code: 'corrupt-record', error: 'not a spool record: topic, key and value must be strings', raw: rawText(line), offset, next }
    }
    return { kind: 'record', record: { topic: r.topic, key: r.key, value: r.value }, at: typeof r.at === 'number' ? r.at : undefined, offset, next }
  }

  async #saveCursor(): Promise<void> {
    // A drain that resumed after a takeover must not move the new owner's cursor.
    this.#ensureOwned()
    const tmp = path.join(this.#dir, 'cursor.json.tmp')
    const file = await open(tmp, 'w')
    try {
      await writeAll(file, Buffer.from(JSON.stringify(this.#cursor)))
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(tmp, path.join(this.#dir, 'cursor.json'))
    await fsyncDir(this.#dir)
  }

  #failed(err: unknown, msg: string): void {
    const now = this.#clock()
    this.#failures += 1
    if (this.#failures === 1) {
      this.#failingSince = now
      this.#lastFailureLog = now
      this.#logger.warn({ err, depth: this.#depth }, msg)
    } else if (now - this.#lastFailureLog >= this.#retryLogIntervalMs) {
      this.#lastFailureLog = now
      this.#logger.warn({ err, depth: this.#depth, attempts: this.#failures, pausedMs: now - this.#failingSince }, msg)
    }
  }

  #recovered(): void {
    if (this.#failures === 0) return
    this.#logger.info({ attempts: this.#failures, pausedMs: this.#clock() - this.#failingSince, depth: this.#depth }, 'spool drain resumed')
    this.#failures = 0
  }

  #backoffMs(): number {
    return backoffMs(this.#failures, this.#retryDelayMs, this.#maxRetryDelayMs)
  }

  /** Waits `ms`, or less when the spool closes or, if `untilAppend`, records arrive. */
  async #sleep(ms: number, untilAppend = false): Promise<void> {
    if (this.#closed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      timer.unref()
      this.#wake = () => { clearTimeout(timer); resolve() }
      this.#wakeOnAppend = untilAppend
    })
    this.#wake = undefined
    this.#wakeOnAppend = false
  }

  /** Waits until every appended record is acknowledged, or the timeout passes. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = deadlineIn(timeoutMs)
    while (this.#depth > 0 && !deadline.passed()) await new Promise((r) => setTimeout(r, 50))
    return this.#depth === 0
  }

  /** Throws, with the spool closed (SpoolClosedError: a 503), once the lock file no longer names this spool. */
  #ensureOwned(): void {
    if (!this.#lock.holds()) throw new SpoolClosedError()
  }

  /**
   * Another receiver took the directory over: this one stood still past the lock's lease. Two drains would
   * publish twice and race the cursor, so this one stops: no drain, and appends refused (retriable: a 503),
   * as when shut down. What it appended stays on disk for the new owner.
   */
  #lockLost(): void {
    this.#closed = true
    this.#wake?.()
    this.#onLockLost?.()
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#writing
    this.#wake?.()
    await this.#draining
    await this.#writeHandle.close()
    await this.#lock.release()
  }
}

/**
 * The records a `retriable: false` publish error names as refused (`refused: [{ index, reason }]`, as the
 * Kafka publisher's KafkaRecordRejectedError does), every other record of the call having been
 * acknowledged; undefined when it names none, or names them in a way that does not fit the call.
 */
function refusedIndexes(err: unknown, count: number): { index: number; reason: string }[] | undefined {
  const refused = (err as { refused?: unknown } | null)?.refused
  if (!Array.isArray(refused) || refused.length === 0) return undefined
  const out: { index: number; reason: string }[] = []
  for (const r of refused as { index?: unknown; reason?: unknown }[]) {
    if (!Number.isSafeInteger(r?.index) || (r.index as number) < 0 || (r.index as number) >= count) return undefined
    if (out.length > 0 && (r.index as number) <= out.at(-1)!.index) return undefined
    out.push({ index: r.index as number, reason: typeof r.reason === 'string' ? r.reason : 'refused' })
  }
  return out
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done)
    done += bytesWritten
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function fileSize(file: string): Promise<number> {
  const handle = await open(file, 'r').catch(() => undefined)
  if (!handle) return 0
  try {
    return (await handle.stat()).size
  } finally {
    await handle.close()
  }
}

/**
 * Cuts the write segment after its last newline. `append` resolves only after fsync, so bytes after the
 * last newline belong to an append that never resolved: a crash tore it. Returns the new size.
 */
async function cutTornTail(handle: FileHandle, notBelow: number, logger: Logger, segment: number): Promise<number> {
  const size = (await handle.stat()).size
  let end = size
  const block = Buffer.allocUnsafe(64 * 1024)
  while (end > notBelow) {
    const from = Math.max(notBelow, end - block.length)
    const { bytesRead } = await handle.read(block, 0, end - from, from)
    const nl = block.subarray(0, bytesRead).lastIndexOf(0x0a)
    if (nl >= 0) { end = from + nl + 1; break }
    end = from
  }
  if (end === size) return size
  await handle.truncate(end)
  await handle.sync()
  logger.warn({ segment, bytes: size - end }, 'spool cut a torn last record (a crash during an append that was never acknowledged)')
  return end
}

/** The offset after the next newline at or after `from`, or `limit`. */
async function skipLine(handle: FileHandle, from: number, limit: number): Promise<number> {
  const block = Buffer.allocUnsafe(READ_BLOCK)
  for (let pos = from; pos < limit;) {
    const { bytesRead } = await handle.read(block, 0, Math.min(block.length, limit - pos), pos)
    if (bytesRead === 0) break
    const nl = block.subarray(0, bytesRead).indexOf(0x0a)
    if (nl >= 0) return pos + nl + 1
    pos += bytesRead
  }
  return limit
}

function rawText(bytes: Buffer): string {
  return bytes.subarray(0, RAW_BYTES).toString('utf8')
}

/** Lines, counting a last one without its newline. */
function countLines(bytes: Buffer): number {
  let n = 0
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) n++
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) n++
  return n
}

async function readCursor(dir: string, firstSegment: number, logger: Logger): Promise<Cursor> {
  let text: string
  try {
    text = await readFile(path.join(dir, 'cursor.json'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return { segment: firstSegment, offset: 0 }
  }
  const c = (() => { try { return JSON.parse(text) as Partial<Cursor> } catch { return undefined } })()
  if (c && Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && c.offset! >= 0) return { segment: c.segment!, offset: c.offset! }
  // Republishing from the first segment duplicates (ids dedup them); guessing further would lose records.
  logger.warn({ dir }, 'spool cursor unreadable: draining again from the first segment')
  return { segment: firstSegment, offset: 0 }
}
