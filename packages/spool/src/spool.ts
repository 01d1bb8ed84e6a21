import { open, readdir, readFile, rename, rm, mkdir, writeFile, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'

/** One message waiting for Kafka. */
export interface SpoolRecord {
  topic: string
  key: string
  value: string
}

export interface SpoolOptions {
  logger: Logger
  /** A new segment file starts past this size; drained segments are deleted. */
  segmentBytes?: number
  /** Records per publish call while draining. */
  drainBatch?: number
  /** Wait between attempts while Kafka refuses. */
  retryDelayMs?: number
}

interface Cursor {
  segment: number
  offset: number
}

const segmentName = (n: number) => `segment-${String(n).padStart(9, '0')}.ndjson`
const segmentNumber = (name: string) => Number(/^segment-(\d+)\.ndjson$/.exec(name)?.[1] ?? NaN)

/**
 * A local, durable, in-order queue in front of Kafka for senders that do not retry (Pingdom, people's
 * reports). `append` resolves only after the records are fsync'ed, so a 202 survives a crash; the drainer
 * publishes them to Kafka in append order and moves a persisted cursor after each acknowledgement.
 * A crash between publish and cursor write republishes a few records: their event ids dedup them later.
 * One process owns a spool directory (a lock file enforces it).
 */
export class Spool {
  readonly #dir: string
  readonly #logger: Logger
  readonly #segmentBytes: number
  readonly #drainBatch: number
  readonly #retryDelayMs: number
  #writeSegment: number
  #writeHandle: FileHandle
  #writeSize: number
  #cursor: Cursor
  #depth: number
  #pending: { lines: string; count: number; resolve: () => void; reject: (e: Error) => void }[] = []
  #writing: Promise<void> | undefined
  #wake: (() => void) | undefined
  #draining: Promise<void> | undefined
  #closed = false

  private constructor(dir: string, opts: SpoolOptions, state: { writeSegment: number; handle: FileHandle; size: number; cursor: Cursor; depth: number }) {
    this.#dir = dir
    this.#logger = opts.logger
    this.#segmentBytes = opts.segmentBytes ?? 16 * 1024 * 1024
    this.#drainBatch = opts.drainBatch ?? 500
    this.#retryDelayMs = opts.retryDelayMs ?? 1000
    this.#writeSegment = state.writeSegment
    this.#writeHandle = state.handle
    this.#writeSize = state.size
    this.#cursor = state.cursor
    this.#depth = state.depth
  }

  static async open(dir: string, opts: SpoolOptions): Promise<Spool> {
    await mkdir(dir, { recursive: true })
    await takeLock(dir)
    const segments = (await readdir(dir)).map(segmentNumber).filter((n) => Number.isInteger(n)).sort((a, b) => a - b)
    const cursor = await readCursor(dir, segments[0] ?? 1)
    const writeSegment = segments.at(-1) ?? 1
    let depth = 0
    for (const n of segments.filter((s) => s >= cursor.segment)) {
      const bytes = await readFile(path.join(dir, segmentName(n))).catch(() => Buffer.alloc(0))
      depth += countLines(bytes.subarray(n === cursor.segment ? cursor.offset : 0))
    }
    const handle = await open(path.join(dir, segmentName(writeSegment)), 'a')
    const size = (await handle.stat()).size
    if (depth > 0) opts.logger.info({ depth, dir }, 'spool has records from before the restart')
    return new Spool(dir, opts, { writeSegment, handle, size, cursor, depth })
  }

  /** Records appended and not yet acknowledged by Kafka. */
  get depth(): number {
    return this.#depth
  }

  /** Resolves once the records are on disk (fsync'ed). Concurrent appends share one fsync. */
  append(records: readonly SpoolRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('spool is closed'))
    const lines = records.map((r) => JSON.stringify(r) + '\n').join('')
    return new Promise((resolve, reject) => {
      this.#pending.push({ lines, count: records.length, resolve, reject })
      if (!this.#writing) this.#writing = this.#flushWrites()
    })
  }

  async #flushWrites(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0)
      const bytes = Buffer.from(batch.map((p) => p.lines).join(''))
      try {
        if (this.#writeSize > 0 && this.#writeSize + bytes.length > this.#segmentBytes) await this.#rotate()
        await this.#writeHandle.write(bytes)
        await this.#writeHandle.datasync()
        this.#writeSize += bytes.length
        for (const p of batch) { this.#depth += p.count; p.resolve() }
        this.#wake?.()
      } catch (err) {
        for (const p of batch) p.reject(err as Error)
      }
    }
    this.#writing = undefined
  }

  async #rotate(): Promise<void> {
    await this.#writeHandle.close()
    this.#writeSegment += 1
    this.#writeHandle = await open(path.join(this.#dir, segmentName(this.#writeSegment)), 'a')
    this.#writeSize = 0
  }

  /** Starts publishing spooled records in order; `publish` must resolve only after Kafka acknowledged. */
  startDraining(publish: (records: SpoolRecord[]) => Promise<void>): void {
    this.#draining ??= this.#drainLoop(publish)
  }

  async #drainLoop(publish: (records: SpoolRecord[]) => Promise<void>): Promise<void> {
    while (!this.#closed) {
      const chunk = await this.#readFromCursor()
      if (chunk.records.length === 0) {
        if (this.#cursor.segment < this.#writeSegment) {
          await rm(path.join(this.#dir, segmentName(this.#cursor.segment)), { force: true })
          this.#cursor = { segment: this.#cursor.segment + 1, offset: 0 }
          await this.#saveCursor()
          continue
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve
          setTimeout(resolve, 1000).unref()
        })
        this.#wake = undefined
        continue
      }
      try {
        await publish(chunk.records)
      } catch (err) {
        this.#logger.warn({ err, depth: this.#depth }, 'spool drain paused: Kafka did not acknowledge')
        await new Promise((r) => setTimeout(r, this.#retryDelayMs))
        continue
      }
      this.#cursor = { segment: this.#cursor.segment, offset: this.#cursor.offset + chunk.bytes }
      this.#depth -= chunk.records.length
      await this.#saveCursor()
    }
  }

  async #readFromCursor(): Promise<{ records: SpoolRecord[]; bytes: number }> {
    const file = path.join(this.#dir, segmentName(this.#cursor.segment))
    const handle = await open(file, 'r').catch(() => undefined)
    if (!handle) return { records: [], bytes: 0 }
    try {
      const buf = Buffer.alloc(1024 * 1024)
      const { bytesRead } = await handle.read(buf, 0, buf.length, this.#cursor.offset)
      const data = buf.subarray(0, bytesRead)
      const records: SpoolRecord[] = []
      let consumed = 0
      while (records.length < this.#drainBatch) {
        const nl = data.indexOf(0x0a, consumed)
        if (nl < 0) break
        records.push(JSON.parse(data.subarray(consumed, nl).toString('utf8')) as SpoolRecord)
        consumed = nl + 1
      }
      return { records, bytes: consumed }
    } finally {
      await handle.close()
    }
  }

  async #saveCursor(): Promise<void> {
    const tmp = path.join(this.#dir, 'cursor.json.tmp')
    await writeFile(tmp, JSON.stringify(this.#cursor))
    await rename(tmp, path.join(this.#dir, 'cursor.json'))
  }

  /** Waits until every appended record is acknowledged, or the timeout passes. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (this.#depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    return this.#depth === 0
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#writing
    this.#wake?.()
    await this.#draining
    await this.#writeHandle.close()
    await rm(path.join(this.#dir, 'lock'), { force: true })
  }
}

function countLines(bytes: Buffer): number {
  let n = 0
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) n++
  return n
}

async function readCursor(dir: string, firstSegment: number): Promise<Cursor> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'cursor.json'), 'utf8')) as Cursor
  } catch {
    return { segment: firstSegment, offset: 0 }
  }
}

/** One owner per directory: two receivers draining one spool would publish twice and race the cursor. */
async function takeLock(dir: string): Promise<void> {
  const lock = path.join(dir, 'lock')
  try {
    const owner = Number(await readFile(lock, 'utf8'))
    if (owner && owner !== process.pid && isAlive(owner)) throw new Error(`spool ${dir} is in use by process ${owner}`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await writeFile(lock, String(process.pid))
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}
