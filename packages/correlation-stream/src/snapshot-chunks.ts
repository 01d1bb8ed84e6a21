// A partition's engine snapshot as a series of independently gzip'ed chunks, each far below Kafka's record
// limit, and back. The snapshot is written as newline-delimited JSON, each line a scalar field or a slice
// of an array field, so that no single string ever holds the whole state (V8 caps a string at ~512 MiB, and
// one JSON.parse of a large state is slow and doubles the heap). The raw text is cut into chunks at any
// byte; the reader gunzips them one by one and carries a partial line into the next.
import { createHash } from 'node:crypto'
import { isAscii } from 'node:buffer'
import { constants, gunzipSync, gzipSync } from 'node:zlib'
import { finish } from '@opsreview/correlation/steps'

/** Well below Kafka's default `max.message.bytes` (1 MiB), with room for the record's key and headers. */
export const defaultMaxChunkBytes = 512 * 1024
/** A line holds array items up to this many characters (or one item): lines stay small, and the reader appends them as they come. */
const lineChars = 64 * 1024
const NEWLINE = 0x0a

export interface EncodedSnapshot {
  /** Gzip'ed, each at most `maxChunkBytes`. */
  chunks: Buffer[]
  /** Bytes of the newline-delimited JSON before compression. */
  rawBytes: number
  /** sha256 over the chunks in order: the reader checks that it has exactly the chunks the writer wrote. */
  checksum: string
}

type Line = { k: string; s: unknown } | { k: string; v: unknown[] }

function* linesOf(value: Record<string, unknown>): Generator<string> {
  for (const [k, v] of Object.entries(value)) {
    if (!Array.isArray(v)) { yield JSON.stringify({ k, s: v }); continue }
    const head = `{"k":${JSON.stringify(k)},"v":[`
    let items: string[] = []
    let chars = 0
    for (const item of v) {
      const json = JSON.stringify(item) ?? 'null'
      items.push(json)
      chars += json.length + 1
      if (chars >= lineChars) { yield `${head}${items.join(',')}]}`; items = []; chars = 0 }
    }
    if (items.length > 0 || v.length === 0) yield `${head}${items.join(',')}]}`
  }
}

export function checksumOf(chunks: readonly Buffer[]): string {
  const h = createHash('sha256')
  for (const c of chunks) h.update(c)
  return h.digest('hex')
}

/** What an encoding of a snapshot came to, known once its last chunk is out. */
export interface EncodingSummary {
  rawBytes: number
  /** sha256 over the chunks in order (`checksumOf`). */
  checksum: string
}

/** Text encoded between two steps of `snapshotChunks` (some milliseconds of work). */
const stepBytes = 256 * 1024

/**
 * Encodes a plain-data snapshot (JSON values; arrays at the top level are split into slices), one chunk at
 * a time, with steps (`undefined`) between chunks' worth of text: a caller that awaits at each lets the
 * event loop run (other consumers, heartbeats, health endpoints) instead of blocking it for the whole
 * state. Returns the summary when done. Chunks are cut from
 * the raw text at a size that compresses to at most `maxChunkBytes`: it starts at four times that, halves
 * whenever a chunk compresses worse (so incompressible content still fits), and follows the ratio the last
 * chunk compressed at.
 */
export function* snapshotChunks(value: object, maxChunkBytes = defaultMaxChunkBytes): Generator<Buffer | undefined, EncodingSummary> {
  // Snapshots are written often and read rarely: the fastest level costs a little size and saves most of the time.
  const zopts = { level: constants.Z_BEST_SPEED }
  const hash = createHash('sha256')
  let target = 4 * maxChunkBytes
  let pending: Buffer[] = []
  let pendingBytes = 0
  let rawBytes = 0
  function* cut(final: boolean): Generator<Buffer> {
    while (pendingBytes >= target || (final && pendingBytes > 0)) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes)
      let n = Math.min(target, all.length)
      let z = gzipSync(all.subarray(0, n), zopts)
      while (z.length > maxChunkBytes) {
        n = Math.max(1, n >> 1)
        target = n
        z = gzipSync(all.subarray(0, n), zopts)
      }
      // The next piece aims at three quarters of the limit at the ratio this one compressed at: binary
      // blocks barely compress, records 4-5x, and a fixed size would make many small chunks of the latter.
      if (n === target) target = Math.max(64 * 1024, Math.min(8 * maxChunkBytes, Math.floor(n * (0.75 * maxChunkBytes) / z.length)))
      pending = n < all.length ? [all.subarray(n)] : []
      pendingBytes = all.length - n
      hash.update(z)
      yield z
    }
  }
  let sinceStep = 0
  for (const line of linesOf(value as Record<string, unknown>)) {
    const b = Buffer.from(`${line}\n`)
    rawBytes += b.length
    pending.push(b)
    pendingBytes += b.length
    if (pendingBytes >= target) { sinceStep = 0; yield* cut(false) }
    // A chunk takes about 2 MB of text: a step between, for a caller that lets other work run.
    else if ((sinceStep += b.length) >= stepBytes) { sinceStep = 0; yield undefined }
  }
  yield* cut(true)
  return { rawBytes, checksum: hash.digest('hex') }
}

/** Encodes a snapshot in one go (`snapshotChunks`, all at once). */
export function encodeSnapshot(value: object, maxChunkBytes = defaultMaxChunkBytes): EncodedSnapshot {
  const chunks: Buffer[] = []
  const it = snapshotChunks(value, maxChunkBytes)
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) return { chunks, ...r.value }
    if (r.value) chunks.push(r.value)
  }
}

/**
 * Rebuilds the snapshot from its chunks in order, one chunk at a time. Throws on truncated or corrupt input.
 * An array field's slices are joined once at the end (appending them item by item was a tenth of a
 * restore's time), and text that is all ASCII, as snapshots almost are, is read as Latin-1: the same
 * characters, without UTF-8 decoding.
 */
export function decodeSnapshot(chunks: Iterable<Buffer>): Record<string, unknown> {
  return finish(decodeSteps(chunks))
}

/** `decodeSnapshot` a chunk at a time, then an array field at a time: a caller may let the event loop run at each step. */
export function* decodeSteps(chunks: Iterable<Buffer>): Generator<undefined, Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  const slices = new Map<string, unknown[][]>()
  const apply = (text: string) => {
    const line = JSON.parse(text) as Line
    if ('s' in line) { out[line.k] = line.s; return }
    const list = slices.get(line.k)
    if (list) list.push(line.v)
    else {
      slices.set(line.k, [line.v])
      // Holds the field's place, so the fields keep the order they were written in.
      out[line.k] = null
    }
  }
  let carry: Buffer | undefined
  for (const chunk of chunks) {
    const buf = gunzipSync(chunk)
    let start = 0
    if (carry) {
      // Only the line the previous chunk began is joined, not the whole chunk.
      const nl = buf.indexOf(NEWLINE)
      if (nl < 0) { carry = Buffer.concat([carry, buf]); continue }
      apply(Buffer.concat([carry, buf.subarray(0, nl)]).toString('utf8'))
      carry = undefined
      start = nl + 1
    }
    // A newline byte never occurs inside a multi-byte UTF-8 character, so cutting at bytes is safe.
    const encoding = isAscii(buf) ? 'latin1' : 'utf8'
    for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      apply(buf.toString(encoding, start, nl))
      start = nl + 1
    }
    if (start < buf.length) carry = buf.subarray(start)
    yield
  }
  if (carry) throw new Error('snapshot chunks end in the middle of a line: a chunk is missing')
  // A field at a time: the largest take tens of milliseconds each at a million alerts.
  for (const [k, list] of slices) {
    out[k] = joined(list)
    yield
  }
  return out
}

/** The slices of one array field as one array. */
function joined(list: unknown[][]): unknown[] {
  if (list.length === 1) return list[0]!
  // concat copies the elements in one go; a call takes at most so many arguments.
  let all: unknown[] = []
  for (let i = 0; i < list.length; i += 4096) all = all.concat(...list.slice(i, i + 4096))
  return all
}
