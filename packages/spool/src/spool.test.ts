import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import fsp, { appendFile, mkdtemp, open, readdir, readFile, readlink, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { captureLogs, waitFor } from '@opsreview/testing'
import { SpoolLock, type LockTiming } from './lock.ts'
import { Spool, SpoolClosedError, SpoolFullError, SpoolRecordTooLargeError, type SpoolDeadLetterReason, type SpoolOptions, type SpoolRecord } from './spool.ts'

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-test-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const rec = (i: number | string, value = `value-${i}`): SpoolRecord => ({ topic: 'alerts', key: `k${i}`, value })
const segment = (dir: string, n: number) => path.join(dir, `segment-${String(n).padStart(9, '0')}.ndjson`)
const line = (r: SpoolRecord) => JSON.stringify(r) + '\n'
const segmentsIn = async (dir: string) => (await readdir(dir)).filter((f) => f.startsWith('segment-')).sort()

/** Opens a spool that the test closes (a no-op if the test closed it itself). */
async function openSpool(dir: string, opts: Partial<SpoolOptions> = {}) {
  const { logger, lines } = captureLogs()
  const spool = await Spool.open(dir, { logger, retryDelayMs: 5, maxRetryDelayMs: 20, ...opts })
  let closed = false
  const close = async () => { if (!closed) { closed = true; await spool.close() } }
  onTestFinished(close)
  return { spool, lines, close }
}

/** A publish callback that keeps what Kafka "acknowledged". */
function kafka() {
  const published: SpoolRecord[] = []
  return { published, publish: async (records: SpoolRecord[]) => { published.push(...records) } }
}

function deadLetters() {
  const letters: { record: SpoolRecord | undefined; reason: SpoolDeadLetterReason }[] = []
  return { letters, deadLetter: async (record: SpoolRecord | undefined, reason: SpoolDeadLetterReason) => { letters.push({ record, reason }) } }
}

/**
 * Spies on a node:fs/promises function for one test. spool.ts and lock.ts import them by name, and such a
 * binding to a built-in module follows the module's object only through syncBuiltinESMExports.
 */
function spyOnFs<K extends 'rm' | 'rename' | 'writeFile'>(name: K) {
  const spy = vi.spyOn(fsp, name)
  syncBuiltinESMExports()
  onTestFinished(() => { spy.mockRestore(); syncBuiltinESMExports() })
  return spy
}

/** FileHandle's prototype (node:fs/promises does not export the class): to spy on every handle's writes and syncs. */
async function fileHandlePrototype(dir: string): Promise<FileHandle> {
  const handle = await open(dir, 'r')
  await handle.close()
  return Object.getPrototypeOf(handle) as FileHandle
}

/** An error as the kernel gives it (Node sets `code` and `syscall`). */
const systemError = (code: string, syscall: string, file: string) => Object.assign(new Error(`${code}: injected by the test, ${syscall} '${file}'`), { code, syscall, path: file })

const retriable = (message = 'Kafka is unavailable') => Object.assign(new Error(message), { retriable: true })

/** Drains into a Kafka that takes `batches` batches, then refuses (retriably) until `allow` gives it more. */
function drainIntoFlakyKafka(spool: Spool, batches: number) {
  const k = kafka()
  let left = batches
  spool.startDraining(async (records) => {
    if (left <= 0) throw retriable()
    left--
    await k.publish(records)
  })
  return { published: k.published, allow: (more: number) => { left = more } }
}
const refused = (message = 'Kafka will not take it') => Object.assign(new Error(message), { retriable: false, name: 'KafkaRecordRejectedError' })

describe('Spool', () => {
  it('drains appended records in order across segments and deletes each segment once drained', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir, { segmentBytes: 300 })
    for (let i = 0; i < 20; i++) await spool.append([rec(i)])
    expect(spool.depth).toBe(20)
    expect((await segmentsIn(dir)).length).toBeGreaterThan(3)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual(Array.from({ length: 20 }, (_, i) => rec(i)))
    await waitFor(async () => ((await segmentsIn(dir)).length === 1 ? true : undefined), { what: 'drained segments deleted' })
  })

  it('cuts a torn last line at open (a crash mid-append) and keeps draining and appending', async () => {
    const dir = await tempDir()
    const first = await openSpool(dir)
    await first.spool.append([rec(1), rec(2), rec(3)])
    await first.close()
    // The crash: part of an append that never resolved.
    await appendFile(segment(dir, 1), '{"topic":"alerts","key":"k4","val')

    const { spool, lines } = await openSpool(dir)
    expect(spool.depth).toBe(3)
    expect(lines.some((l) => l.msg === 'spool cut a torn last record (a crash during an append that was never acknowledged)')).toBe(true)
    await spool.append([rec(5)])
    const k = kafka()
    const d = deadLetters()
    spool.startDraining(k.publish, { deadLetter: d.deadLetter })
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2), rec(3), rec(5)])
    expect(d.letters).toEqual([])
  })

  it('dead-letters a corrupt line in the middle of a segment, logs it and drains the rest', async () => {
    const dir = await tempDir()
    // Lines an older receiver could leave: a torn line the next append was written after, and JSON that is no record.
    await writeFile(segment(dir, 1), line(rec(1)) + '{"topic":"alerts","ke' + line(rec(2)) + '{"not":"a record"}\n' + line(rec(3)))
    const { spool, lines } = await openSpool(dir)
    expect(spool.depth).toBe(4)
    const k = kafka()
    const d = deadLetters()
    spool.startDraining(k.publish, { deadLetter: d.deadLetter })
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(3)])
    expect(d.letters.map((l) => [l.record, l.reason.code, l.reason.raw])).toEqual([
      [undefined, 'corrupt-record', '{"topic":"alerts","ke' + line(rec(2)).trimEnd()],
      [undefined, 'corrupt-record', '{"not":"a record"}'],
    ])
    expect(d.letters[0]!.reason).toMatchObject({ segment: 1, offset: line(rec(1)).length })
    expect(lines.filter((l) => l.msg === 'spool line is not a record it can publish: dead-lettering it')).toHaveLength(2)
  })

  it('keeps the whole text of a corrupt line that holds an event of the largest size, so it can be mended and replayed', async () => {
    const dir = await tempDir()
    // A 128 KiB event (the receiver's cap) of quotes, each escaped twice as long in its line, one byte flipped.
    const event = JSON.stringify({ id: 'e100', title: '"'.repeat((128 * 1024 - 24) / 2) })
    expect(event.length).toBe(128 * 1024)
    const corrupt = line(rec('big', event)).trimEnd().replace('"key"', '"ke\u0001"').replace(/}$/, ']')
    await writeFile(segment(dir, 1), line(rec(1)) + corrupt + '\n' + line(rec(2)))
    const { spool } = await openSpool(dir)
    const k = kafka()
    const d = deadLetters()
    spool.startDraining(k.publish, { deadLetter: d.deadLetter })
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2)])
    expect(corrupt.length).toBeGreaterThan(256 * 1024)
    expect(d.letters.map((l) => [l.reason.code, l.reason.raw])).toEqual([['corrupt-record', corrupt]])
  })

  it.each([2, 10])('drains a record of %i MiB between small ones, in order', async (mib) => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir)
    const big = rec('big', 'b'.repeat(mib * 1024 * 1024))
    await spool.append([rec(1)])
    await spool.append([big])
    await spool.append([rec(2)])
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(50_000)).toBe(true)
    expect(k.published.map((r) => r.key)).toEqual(['k1', 'kbig', 'k2'])
    expect(k.published[1]!.value).toHaveLength(mib * 1024 * 1024)
  }, 60_000)

  it('never deletes a segment the drain has not passed, across rotations while Kafka is down', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir, { segmentBytes: 1024 * 1024 })
    const big = rec('big', 'b'.repeat(2 * 1024 * 1024))
    await spool.append([big])
    let kafkaUp = false
    const published: SpoolRecord[] = []
    spool.startDraining(async (records) => {
      if (!kafkaUp) throw retriable()
      published.push(...records)
    })
    // Rotations: each small append after the big record starts or fills another segment.
    for (let i = 0; i < 5; i++) await spool.append([rec(i, 'v'.repeat(600 * 1024))])
    expect((await segmentsIn(dir)).length).toBeGreaterThanOrEqual(3)
    expect(spool.depth).toBe(6)
    kafkaUp = true
    expect(await spool.drained(50_000)).toBe(true)
    expect(published.map((r) => r.key)).toEqual(['kbig', 'k0', 'k1', 'k2', 'k3', 'k4'])
  }, 60_000)

  it('hands a record Kafka refuses for good to deadLetter, alone, and publishes the others of its batch', async () => {
    const dir = await tempDir()
    const { spool, lines } = await openSpool(dir)
    await spool.append([rec(1), rec('poison'), rec(2), rec(3)])
    const k = kafka()
    const d = deadLetters()
    spool.startDraining(async (records) => {
      if (records.some((r) => r.key === 'kpoison')) throw refused()
      await k.publish(records)
    }, { deadLetter: d.deadLetter })
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2), rec(3)])
    expect(d.letters).toEqual([{ record: rec('poison'), reason: expect.objectContaining({ code: 'record-rejected', error: 'Kafka will not take it', segment: 1 }) }])
    expect(lines.filter((l) => l.msg === 'spool record refused by Kafka for good: dead-lettering it')).toHaveLength(1)
  })

  it('sends nothing again when the refusal names the refused records (the others were acknowledged), and falls back to one by one when it names them wrongly', async () => {
    for (const [named, expected] of [
      [[{ index: 1, reason: 'too big' }], [rec(1), rec(2), rec(3)]],
      // An index past the batch: no telling which were taken, so each is sent again alone.
      [[{ index: 9, reason: 'too big' }], [rec(1), rec(2), rec(3), rec(1), rec(2), rec(3)]],
    ] as const) {
      const dir = await tempDir()
      const { spool } = await openSpool(dir)
      await spool.append([rec(1), rec('poison'), rec(2), rec(3)])
      const k = kafka()
      const d = deadLetters()
      spool.startDraining(async (records) => {
        // As the publisher answers: every record but the poison is acknowledged, and the error names it.
        await k.publish(records.filter((r) => r.key !== 'kpoison'))
        if (records.some((r) => r.key === 'kpoison')) throw Object.assign(refused(), { refused: named })
      }, { deadLetter: d.deadLetter })
      expect(await spool.drained(5000)).toBe(true)
      expect(k.published).toEqual(expected)
      expect(d.letters).toEqual([{ record: rec('poison'), reason: expect.objectContaining({ code: 'record-rejected', segment: 1 }) }])
      await spool.close()
    }
  })

  it('keeps a refused record in dead-letters.ndjson when there is no deadLetter callback, or the dead-letter topic refuses it too', async () => {
    for (const deadLetter of [undefined, async () => { throw refused('dead-letter topic will not take it') }]) {
      const dir = await tempDir()
      const { spool } = await openSpool(dir)
      await spool.append([rec('poison'), rec(1)])
      const k = kafka()
      spool.startDraining(async (records) => {
        if (records.some((r) => r.key === 'kpoison')) throw refused()
        await k.publish(records)
      }, { deadLetter })
      expect(await spool.drained(5000)).toBe(true)
      expect(k.published).toEqual([rec(1)])
      const kept = (await readFile(path.join(dir, 'dead-letters.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { record: SpoolRecord; reason: SpoolDeadLetterReason })
      expect(kept).toHaveLength(1)
      expect(kept[0]).toMatchObject({ record: rec('poison'), reason: { code: 'record-rejected' } })
    }
  })

  it('starts its dead letter on a line of its own after a crash tore the last one of dead-letters.ndjson, so each whole letter still reads as one JSON line', async () => {
    const dir = await tempDir()
    // A crash during a write of the local dead-letters file left half a line, and the record's letter is written again.
    const torn = JSON.stringify({ at: '2026-12-07T00:00:00.000Z', reason: { code: 'record-rejected' }, record: rec('poison') }).slice(0, 40)
    await writeFile(path.join(dir, 'dead-letters.ndjson'), torn)
    const { spool } = await openSpool(dir)
    await spool.append([rec('poison'), rec(1)])
    spool.startDraining(async (records) => { if (records.some((r) => r.key === 'kpoison')) throw refused() })
    expect(await spool.drained(5000)).toBe(true)
    const lines = (await readFile(path.join(dir, 'dead-letters.ndjson'), 'utf8')).split('\n')
    expect(lines[0]).toBe(torn)
    expect(JSON.parse(lines[1]!)).toMatchObject({ record: rec('poison'), reason: { code: 'record-rejected' } })
    expect(lines.slice(2)).toEqual([''])
  })

  it('does not move past a record whose dead letter failed retriably, and retries it', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir)
    await spool.append([rec('poison'), rec(1)])
    let attempts = 0
    const kept: SpoolRecord[] = []
    const k = kafka()
    spool.startDraining(async (records) => {
      if (records.some((r) => r.key === 'kpoison')) throw refused()
      await k.publish(records)
    }, {
      deadLetter: async (record) => {
        if (++attempts < 3) throw retriable('dead-letter topic unavailable')
        kept.push(record!)
      },
    })
    expect(await spool.drained(5000)).toBe(true)
    expect(attempts).toBe(3)
    expect(kept).toEqual([rec('poison')])
    expect(k.published).toEqual([rec(1)])
  })

  it('retries while Kafka is down with back-off, logging at a bounded rate, then resumes in order', async () => {
    const dir = await tempDir()
    const { spool, lines } = await openSpool(dir, { retryDelayMs: 1, maxRetryDelayMs: 4, retryLogIntervalMs: 60_000 })
    await spool.append([rec(1), rec(2)])
    let attempts = 0
    const k = kafka()
    spool.startDraining(async (records) => {
      if (++attempts <= 30) throw retriable()
      await k.publish(records)
    })
    expect(await spool.drained(50_000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2)])
    expect(lines.filter((l) => l.msg === 'spool drain paused: Kafka did not acknowledge')).toHaveLength(1)
    expect(lines.filter((l) => l.msg === 'spool drain resumed')).toEqual([expect.objectContaining({ attempts: 30 })])
  })

  it('reports the age of the oldest record not yet acknowledged, across a restart', async () => {
    const dir = await tempDir()
    let now = 1_000_000
    const clock = () => now
    const first = await openSpool(dir, { clock })
    expect(first.spool.oldestAgeMs).toBe(0)
    await first.spool.append([rec(1)])
    now += 5000
    await first.spool.append([rec(2)])
    now += 1000
    expect(first.spool.oldestAgeMs).toBe(6000)
    await first.close()

    now += 4000
    const { spool } = await openSpool(dir, { clock })
    expect(spool.oldestAgeMs).toBe(10_000)
    let n = 0
    const k = kafka()
    // Kafka writes part of a batch without acknowledging it, then is down: both records wait, the first is the oldest.
    spool.startDraining(async (records) => {
      if (n++ > 0) throw retriable()
      await k.publish(records.slice(0, 1))
      if (records.length > 1) throw retriable()
    }, {})
    await waitFor(() => (k.published.length === 1 && n > 2 ? true : undefined))
    expect(spool.depth).toBe(2)
    expect(spool.oldestAgeMs).toBe(10_000)
  })

  it('tracks the oldest age as the drain moves on', async () => {
    const dir = await tempDir()
    let now = 0
    const { spool } = await openSpool(dir, { clock: () => now, drainBatch: 1 })
    await spool.append([rec(1)])
    now = 1000
    await spool.append([rec(2)])
    now = 3000
    const k = drainIntoFlakyKafka(spool, 1)
    await waitFor(() => (k.published.length === 1 && spool.oldestAgeMs === 2000 ? true : undefined), { what: 'the second record as the oldest' })
    k.allow(1)
    expect(await spool.drained(5000)).toBe(true)
    expect(spool.oldestAgeMs).toBe(0)
  })

  it('refuses to append a record over maxRecordBytes, appending nothing of that call', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir, { maxRecordBytes: 1000 })
    await expect(spool.append([rec(1), rec(2, 'x'.repeat(2000))])).rejects.toBeInstanceOf(SpoolRecordTooLargeError)
    expect(spool.depth).toBe(0)
    await spool.append([rec(3)])
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(3)])
  })

  it('dead-letters a line on disk longer than maxRecordBytes without reading all of it, and drains the rest', async () => {
    const dir = await tempDir()
    const first = await openSpool(dir)
    await first.spool.append([rec(1), rec('big', 'b'.repeat(3 * 1024 * 1024)), rec(2)])
    await first.close()
    const { spool } = await openSpool(dir, { maxRecordBytes: 1024 * 1024 })
    const k = kafka()
    const d = deadLetters()
    spool.startDraining(k.publish, { deadLetter: d.deadLetter })
    expect(await spool.drained(50_000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2)])
    expect(d.letters.map((l) => l.reason.code)).toEqual(['record-too-large'])
    expect(d.letters[0]!.reason.raw).toHaveLength(260 * 1024)
  }, 60_000)
})

describe('Spool with a byte limit (maxBytes)', () => {
  // A clock that stands still: every line of rec(1) … rec(9) has the same length.
  const at = 1_000
  const lineBytes = Buffer.byteLength(JSON.stringify({ ...rec(1), at }) + '\n')

  it('refuses an append that would take the bytes not yet drained past maxBytes, counting appends still being written, and takes appends again as the drain makes room', async () => {
    const dir = await tempDir()
    const { spool, lines } = await openSpool(dir, { clock: () => at, maxBytes: 3 * lineBytes, drainBatch: 1 })
    // Four appends at once: the fourth is refused though none is on disk yet.
    const first = await Promise.allSettled([1, 2, 3, 4].map((i) => spool.append([rec(i)])))
    expect(first.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    const refusal = (first[3] as PromiseRejectedResult).reason as SpoolFullError
    expect(refusal).toBeInstanceOf(SpoolFullError)
    // Shaped as the kernel's disk-quota error: what a caller does for a full disk (a 503) it does for this.
    expect(refusal).toMatchObject({ code: 'SPOOL_FULL', retriable: true, bytes: 3 * lineBytes, appendBytes: lineBytes, maxBytes: 3 * lineBytes })
    await expect(spool.append([rec(5)])).rejects.toBeInstanceOf(SpoolFullError)
    expect([spool.depth, spool.bytes]).toEqual([3, 3 * lineBytes])
    expect(lines.filter((l) => l.msg === 'spool full: appends refused until the drain makes room')).toHaveLength(1)

    // Kafka takes one record and is down again: room for one.
    const k = drainIntoFlakyKafka(spool, 1)
    await waitFor(() => (spool.depth === 2 ? true : undefined), { what: 'one record drained' })
    expect(spool.bytes).toBe(2 * lineBytes)
    await spool.append([rec(6)])
    await expect(spool.append([rec(7)])).rejects.toBeInstanceOf(SpoolFullError)

    k.allow(Infinity)
    expect(await spool.drained(5000)).toBe(true)
    expect(spool.bytes).toBe(0)
    await Promise.all([7, 8, 9].map((i) => spool.append([rec(i)])))
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([1, 2, 3, 6, 7, 8, 9].map((i) => rec(i)))
  })

  it('counts what waits on disk past the cursor at open, across segments, without a torn tail', async () => {
    const dir = await tempDir()
    // Two records a segment.
    const segmentBytes = 2 * lineBytes
    const first = await openSpool(dir, { clock: () => at, segmentBytes, drainBatch: 1 })
    for (const i of [1, 2, 3, 4]) await first.spool.append([rec(i)])
    let allow = 1
    first.spool.startDraining(async () => { if (allow-- <= 0) throw retriable() })
    await waitFor(() => (first.spool.depth === 3 ? true : undefined), { what: 'one record drained' })
    await first.close()
    // A crash tore an append that was never acknowledged.
    await appendFile(segment(dir, 2), '{"topic":"alerts","key":"k5"')

    const { spool } = await openSpool(dir, { clock: () => at, segmentBytes, maxBytes: 4 * lineBytes })
    expect(await segmentsIn(dir)).toHaveLength(2)
    expect([spool.depth, spool.bytes]).toEqual([3, 3 * lineBytes])
    await spool.append([rec(6)])
    await expect(spool.append([rec(7)])).rejects.toBeInstanceOf(SpoolFullError)
  })

  it('refuses as too large, not as full, a record that could never fit under maxBytes', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir, { clock: () => at, maxBytes: lineBytes })
    await expect(spool.append([rec(1, 'a longer value')])).rejects.toBeInstanceOf(SpoolRecordTooLargeError)
    await spool.append([rec(1)])
    expect(spool.bytes).toBe(lineBytes)
  })

  it('refuses as too large, not as full, records that could never fit under maxBytes together, on an empty spool', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir, { clock: () => at, maxBytes: 2 * lineBytes })
    await expect(spool.append([rec(1), rec(2), rec(3)])).rejects.toMatchObject({ name: 'SpoolRecordTooLargeError', retriable: false, bytes: 3 * lineBytes, maxRecordBytes: 2 * lineBytes })
    expect(spool.bytes).toBe(0)
    await spool.append([rec(1), rec(2)])
    expect(spool.bytes).toBe(2 * lineBytes)
  })
})

describe('Spool restarts after a crash at each step', () => {
  it('republishes (never loses) what was published but not yet recorded in the cursor', async () => {
    const dir = await tempDir()
    const first = await openSpool(dir)
    await first.spool.append([rec(1), rec(2), rec(3)])
    const before = await readFile(path.join(dir, 'cursor.json'), 'utf8').catch(() => undefined)
    const k1 = kafka()
    first.spool.startDraining(k1.publish)
    expect(await first.spool.drained(5000)).toBe(true)
    await first.close()
    // The crash came after Kafka acknowledged and before the cursor was written.
    if (before === undefined) await rm(path.join(dir, 'cursor.json'))
    else await writeFile(path.join(dir, 'cursor.json'), before)
    const { spool } = await openSpool(dir)
    expect(spool.depth).toBe(3)
    const k2 = kafka()
    spool.startDraining(k2.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k2.published).toEqual([rec(1), rec(2), rec(3)])
  })

  it('finishes deleting a drained segment when the crash came between moving the cursor and deleting it', async () => {
    const dir = await tempDir()
    await writeFile(segment(dir, 1), line(rec(1)))
    await writeFile(segment(dir, 2), line(rec(2)))
    await writeFile(path.join(dir, 'cursor.json'), JSON.stringify({ segment: 2, offset: 0 }))
    const { spool } = await openSpool(dir)
    expect(spool.depth).toBe(1)
    expect(await segmentsIn(dir)).toEqual(['segment-000000002.ndjson'])
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(2)])
  })

  it('resumes at the first segment when the cursor names one already deleted (an older receiver deleted first)', async () => {
    const dir = await tempDir()
    await writeFile(segment(dir, 3), line(rec(3)) + line(rec(4)))
    await writeFile(path.join(dir, 'cursor.json'), JSON.stringify({ segment: 2, offset: 57 }))
    const { spool } = await openSpool(dir)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(3), rec(4)])
  })

  it('ignores a half-written cursor.json.tmp and keeps the last complete cursor', async () => {
    const dir = await tempDir()
    await writeFile(segment(dir, 1), line(rec(1)) + line(rec(2)))
    await writeFile(path.join(dir, 'cursor.json'), JSON.stringify({ segment: 1, offset: line(rec(1)).length }))
    await writeFile(path.join(dir, 'cursor.json.tmp'), '{"segm')
    const { spool } = await openSpool(dir)
    expect(spool.depth).toBe(1)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(2)])
    expect((await readdir(dir)).includes('cursor.json.tmp')).toBe(false)
  })

  it('drains again from the first segment when cursor.json is unreadable, rather than skip anything', async () => {
    const dir = await tempDir()
    await writeFile(segment(dir, 1), line(rec(1)) + line(rec(2)))
    await writeFile(path.join(dir, 'cursor.json'), '')
    const { spool, lines } = await openSpool(dir)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2)])
    expect(lines.some((l) => l.msg === 'spool cursor unreadable: draining again from the first segment')).toBe(true)
  })

  // One corrupted digit: segment 2 became 9 (past the last), or 1 became 2 with segments 1 and 3 on disk (between two).
  it.each([
    ['past the last one', [1, 2], 9],
    ['between two', [1, 3], 2],
  ])('drains again from the first segment, deleting nothing, when cursor.json names a segment %s', async (_, [first, second], cursorSegment) => {
    const dir = await tempDir()
    await writeFile(segment(dir, first!), line(rec(1)) + line(rec(2)))
    await writeFile(segment(dir, second!), line(rec(3)))
    await writeFile(path.join(dir, 'cursor.json'), JSON.stringify({ segment: cursorSegment, offset: 0 }))
    const segments = await segmentsIn(dir)
    const { spool, lines } = await openSpool(dir)
    expect(spool.depth).toBe(3)
    expect(await segmentsIn(dir)).toEqual(segments)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2), rec(3)])
    expect(lines.some((l) => l.level === 40 && l.msg === 'spool cursor names a segment that is not there: draining again from the first segment')).toBe(true)
  })

  it('writes the cursor durably: after a restart nothing drained is published again', async () => {
    const dir = await tempDir()
    const first = await openSpool(dir, { segmentBytes: 200 })
    for (let i = 0; i < 10; i++) await first.spool.append([rec(i)])
    const k1 = kafka()
    first.spool.startDraining(k1.publish)
    expect(await first.spool.drained(5000)).toBe(true)
    await first.close()
    const cursor = JSON.parse(await readFile(path.join(dir, 'cursor.json'), 'utf8')) as { segment: number; offset: number }
    const segments = await segmentsIn(dir)
    expect(segments).toEqual([path.basename(segment(dir, cursor.segment))])
    expect(cursor.offset).toBe((await readFile(segment(dir, cursor.segment))).length)

    const { spool } = await openSpool(dir, { segmentBytes: 200 })
    expect(spool.depth).toBe(0)
    await spool.append([rec('after')])
    const k2 = kafka()
    spool.startDraining(k2.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k2.published).toEqual([rec('after')])
  })
})

describe('Spool whose lock cannot be read', () => {
  /** The `n`th read of the lock fails (a descriptor limit); every other read finds it ours. */
  const failLockRead = (n: number) => {
    let reads = 0
    const holds = vi.spyOn(SpoolLock.prototype, 'holds').mockImplementation(() => {
      if (++reads === n) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })
      return true
    })
    onTestFinished(() => holds.mockRestore())
  }

  it('refuses the append whose lock read fails before its write, and writes the next ones (a flush that failed at once left every later append waiting)', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir)
    failLockRead(1)
    await expect(spool.append([rec(1)])).rejects.toMatchObject({ code: 'EMFILE' })
    await spool.append([rec(2)])
    await spool.append([rec(3)])
    expect(spool.depth).toBe(2)
  })

  it('counts the records it wrote and fsynced, though it refuses them, so the depth says what waits on disk; both are published', async () => {
    const dir = await tempDir()
    const { spool } = await openSpool(dir)
    // The read after the first batch's fsync.
    failLockRead(2)
    await expect(spool.append([rec(1)])).rejects.toMatchObject({ code: 'EMFILE' })
    await spool.append([rec(2)])
    expect(spool.depth).toBe(2)
    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(k.published).toEqual([rec(1), rec(2)])
  })
})

describe('Spool whose files fail mid-drain', () => {
  it('waits at close for the append a drain\'s rotation off a full disk held back: it is acknowledged before close resolves, and kept', async () => {
    const dir = await tempDir()
    const { spool, close } = await openSpool(dir)
    await spool.append([rec(1)])
    const handles = await fileHandlePrototype(dir)
    // The disk is full for one write: the append is refused, and once the drain passes the segment's last
    // byte it moves the spool to a new one (#rotateForDrain).
    const writes = vi.spyOn(handles, 'write').mockRejectedValueOnce(systemError('ENOSPC', 'write', segment(dir, 1)))
    onTestFinished(() => writes.mockRestore())
    await expect(spool.append([rec(2)])).rejects.toMatchObject({ code: 'ENOSPC' })

    // The rotation's directory fsync (segment 2 exists by then) waits for the test: an append and close()
    // come while it is under way.
    const realSync = handles.sync
    let rotationHeld = false
    let letRotationOn: (() => void) | undefined
    const syncs = vi.spyOn(handles, 'sync').mockImplementation(async function (this: FileHandle) {
      if (!rotationHeld && existsSync(segment(dir, 2)) && (await this.stat()).isDirectory()) {
        rotationHeld = true
        await new Promise<void>((resolve) => { letRotationOn = resolve })
      }
      return realSync.call(this)
    })
    onTestFinished(() => syncs.mockRestore())
    const k = kafka()
    spool.startDraining(k.publish)
    await waitFor(() => letRotationOn, { what: 'the drain rotating off the full segment' })

    // A slow disk from here on: the append's fsync takes a quarter of a second, longer than the rest of the
    // drain's step, so a close that did not wait for it would close the segment under it.
    const realDatasync = handles.datasync
    const datasyncs = vi.spyOn(handles, 'datasync').mockImplementation(async function (this: FileHandle) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      return realDatasync.call(this)
    })
    onTestFinished(() => datasyncs.mockRestore())
    const events: string[] = []
    const appended = spool.append([rec(3)]).then(() => { events.push('append acknowledged') }, (err: NodeJS.ErrnoException) => { events.push(`append refused: ${err.code ?? err.message}`) })
    const closed = close().then(() => { events.push('closed') })
    letRotationOn!()
    await closed
    await appended
    expect(events).toEqual(['append acknowledged', 'closed'])
    expect(k.published).toEqual([rec(1)])
    datasyncs.mockRestore()

    const again = await openSpool(dir)
    expect(again.spool.depth).toBe(1)
    const k2 = kafka()
    again.spool.startDraining(k2.publish)
    expect(await again.spool.drained(5000)).toBe(true)
    expect(k2.published).toEqual([rec(3)])
  })

  it('retries a drained segment\'s deletion that failed before the cursor leaves it: the cursor never names a segment past one left on disk, and nothing is published twice or lost', async () => {
    const dir = await tempDir()
    // One record a segment.
    const { spool, lines, close } = await openSpool(dir, { segmentBytes: 100 })
    for (let i = 1; i <= 4; i++) await spool.append([rec(i)])
    expect(await segmentsIn(dir)).toHaveLength(4)

    const realRm = fsp.rm
    const rms = spyOnFs('rm')
    let failures = 0
    rms.mockImplementation(async (file, opts) => {
      if (file === segment(dir, 1) && failures++ === 0) throw systemError('EBUSY', 'unlink', String(file))
      return realRm(file, opts)
    })
    // Each cursor as it is saved, and the segments on disk at that moment.
    const realRename = fsp.rename
    const saves: { cursor: { segment: number }; segments: number[] }[] = []
    spyOnFs('rename').mockImplementation(async (from, to) => {
      await realRename(from, to)
      if (to !== path.join(dir, 'cursor.json')) return
      const segments = readdirSync(dir).filter((f) => f.startsWith('segment-')).map((f) => Number(/\d+/.exec(f)![0]))
      saves.push({ cursor: JSON.parse(readFileSync(to, 'utf8')) as { segment: number }, segments })
    })

    const k = kafka()
    spool.startDraining(k.publish)
    expect(await spool.drained(5000)).toBe(true)
    expect(lines.filter((l) => l.msg === 'spool drain failed')).toEqual([expect.objectContaining({ err: expect.objectContaining({ code: 'EBUSY' }) })])
    expect(saves.length).toBeGreaterThan(0)
    expect(saves.filter((s) => s.segments.some((n) => n < s.cursor.segment))).toEqual([])
    await waitFor(async () => ((await segmentsIn(dir)).length === 1 ? true : undefined), { timeoutMs: 2_000, what: 'the drained segments deleted, the one whose deletion failed too' })
    expect(await segmentsIn(dir)).toEqual([path.basename(segment(dir, 4))])
    expect(failures).toBe(2)
    expect(k.published).toEqual([rec(1), rec(2), rec(3), rec(4)])

    await close()
    const again = await openSpool(dir)
    expect(again.spool.depth).toBe(0)
  })
})

describe('Spool on a full disk', () => {
  // A small tmpfs of the test's own, mounted in a user and mount namespace: no root needed, nothing left mounted.
  // A kernel without user namespaces fails these tests (unshare says why) rather than skip them unseen.
  const fixture = fileURLToPath(new URL('./fixtures/fill-disk-then-drain.ts', import.meta.url))
  interface Filled { acked: string[]; fullError: string }
  interface Drained { published: string[]; drained: boolean; segmentsLeft: number; after: { acked: number; failed: string[] } }

  /** Runs the fixture once per mode, one after the other, on one 256 KiB disk; what each reported. */
  async function onSmallDisk(modes: string[]): Promise<unknown[]> {
    const dir = await tempDir()
    const script = ['mount -t tmpfs -o size=256k tmpfs "$1"', ...modes.map((m) => `"$2" "$3" "$1" ${m}`)].join(' && ')
    const child = spawn('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, process.execPath, fixture], { stdio: ['ignore', 'pipe', 'inherit'] })
    onTestFinished(() => { child.kill('SIGKILL') })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += String(d) })
    expect((await once(child, 'exit'))[0]).toBe(0)
    return out.trim().split('\n').map((l) => JSON.parse(l) as unknown)
  }

  it('deletes drained segments once Kafka is back, so appends work again without a restart', async () => {
    const [filled, drained] = await onSmallDisk(['fill-and-drain']) as [Filled, Drained]
    expect(filled.fullError).toBe('ENOSPC')
    expect(filled.acked.length).toBeGreaterThan(100)
    expect(drained).toMatchObject({ drained: true, segmentsLeft: 1, after: { acked: 20, failed: [] } })
    expect(filled.acked.filter((k) => !drained.published.includes(k))).toEqual([])
  }, 30_000)

  it('frees a disk the segment being written filled (segments of the default 16 MiB on 256 KiB), once drained, by moving to a new one', async () => {
    const [filled, drained] = await onSmallDisk(['fill-and-drain 16777216']) as [Filled, Drained]
    expect(filled.fullError).toBe('ENOSPC')
    expect(drained).toMatchObject({ drained: true, segmentsLeft: 1, after: { acked: 20, failed: [] } })
    expect(filled.acked.filter((k) => !drained.published.includes(k))).toEqual([])
  }, 30_000)

  it('opens again after a crash left the disk full, taking the lock over in place, and drains', async () => {
    const [filled, restarted] = await onSmallDisk(['fill', 'restart']) as [Filled, Drained]
    expect(filled.fullError).toBe('ENOSPC')
    expect(restarted).toMatchObject({ drained: true, segmentsLeft: 1, after: { acked: 20, failed: [] } })
    expect(filled.acked.filter((k) => !restarted.published.includes(k))).toEqual([])
  }, 30_000)

  it('refuses to open, naming the disk full and the directory, when a full disk has no room for a new lock file', async () => {
    const [filled, restarted] = await onSmallDisk(['fill-and-stop', 'restart']) as [Filled, { openError: string }]
    expect(filled.fullError).toBe('ENOSPC')
    expect(restarted.openError).toMatch(/^spool \/\S+ has no room for its lock file \/\S+\/lock: its disk is full \(ENOSPC\)/)
  }, 30_000)
})

describe('Spool lock', () => {
  const lockFile = (dir: string) => path.join(dir, 'lock')
  const lockOf = async (dir: string) => JSON.parse(await readFile(lockFile(dir), 'utf8')) as { owner: string; host: string; pid: number }
  /** A lease short enough for a test: touched every 50 ms, stale after 600 ms untouched. */
  const lease = { lockRefreshMs: 50, lockStaleMs: 600 }
  /** Sets the lock's last touch `ms` ago. */
  const touchedAgo = async (dir: string, ms: number) => { const t = new Date(Date.now() - ms); await utimes(lockFile(dir), t, t) }

  it('refuses a second open of the directory in the same process, and frees it at close', async () => {
    const dir = await tempDir()
    const first = await openSpool(dir, lease)
    const { logger, lines } = captureLogs()
    await expect(Spool.open(dir, { logger, ...lease })).rejects.toThrow(`is already open in this process (lock file ${lockFile(dir)})`)
    expect(lines.some((l) => l.level === 50 && String(l.msg).includes(lockFile(dir)))).toBe(true)
    await first.close()
    await expect(readFile(lockFile(dir))).rejects.toMatchObject({ code: 'ENOENT' })
    await openSpool(dir, lease)
  })

  it('refuses a lock its holder keeps fresh, whatever its host and pid (containers sharing a volume are all pid 1)', async () => {
    const dir = await tempDir()
    const foreign = JSON.stringify({ owner: 'x', host: 'another-host', pid: process.pid })
    await writeFile(lockFile(dir), foreign)
    const holder = setInterval(() => void touchedAgo(dir, 0), 50)
    onTestFinished(() => clearInterval(holder))
    await expect(Spool.open(dir, { logger: captureLogs().logger, ...lease })).rejects.toThrow(
      `is in use by process ${process.pid} on host "another-host", which keeps its lock fresh (lock file ${lockFile(dir)}). If no receiver uses this directory, delete ${lockFile(dir)}`)
    expect(await readFile(lockFile(dir), 'utf8')).toBe(foreign)
  })

  it('takes over a lock nobody touched for the lease, whatever its host and pid (a container recreated or restarted after a crash)', async () => {
    for (const left of [JSON.stringify({ owner: 'x', host: 'a-container-gone', pid: 1 }), JSON.stringify({ owner: 'y', host: os.hostname(), pid: process.pid }), '4242']) {
      const dir = await tempDir()
      await writeFile(lockFile(dir), left)
      await touchedAgo(dir, 5_000)
      const { spool, lines } = await openSpool(dir, lease)
      expect(await lockOf(dir)).toMatchObject({ host: os.hostname(), pid: process.pid })
      expect(lines.filter((l) => l.msg === 'spool lock of a process that is gone taken over')).toHaveLength(1)
      await spool.close()
    }
  })

  /**
   * Takes the lock on a clock of the test's own: it moves only when the lock waits between two looks, and
   * each wait records how far the clock had gone and whose the lock file still was.
   */
  async function takeOnTestClock(dir: string, timing: LockTiming) {
    const start = Date.now()
    let now = start
    const waits: { atMs: number; owner: string }[] = []
    const sleep = async (ms: number) => { waits.push({ atMs: now - start, owner: (await lockOf(dir)).owner }); now += ms }
    const lock = await SpoolLock.take(dir, captureLogs().logger, { ...timing, now: () => now, sleep })
    onTestFinished(() => lock.release())
    return { waits, tookAtMs: now - start }
  }

  it('waits out the lease of a lock that is fresh but no longer touched, then takes it over', async () => {
    const dir = await tempDir()
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'x', host: 'a-container-gone', pid: 1 }))
    const { waits, tookAtMs } = await takeOnTestClock(dir, { refreshMs: lease.lockRefreshMs, staleMs: lease.lockStaleMs })
    // Every look before the lease ran out left the lock to its holder; the first look after it took the lock.
    expect(waits.length).toBeGreaterThan(0)
    expect(waits.filter((w) => w.owner !== 'x' || w.atMs >= lease.lockStaleMs)).toEqual([])
    expect(tookAtMs).toBe(lease.lockStaleMs)
    expect((await lockOf(dir)).pid).toBe(process.pid)
  })

  /** This process's kernel boot and pid namespace, as the lock records them. */
  const space = async () => ({ boot: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(), pidns: await readlink('/proc/self/ns/pid') })

  it('takes over at once the lock of a process of this boot and pid namespace that is gone', async () => {
    const dir = await tempDir()
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'crashed', host: os.hostname(), pid: gone, ...(await space()) }))
    const { waits } = await takeOnTestClock(dir, { refreshMs: 50, staleMs: 60_000 })
    // Not one wait: the holder's pid is checked at the first look, the lease is not waited out.
    expect(waits).toEqual([])
    expect(await lockOf(dir)).toMatchObject({ host: os.hostname(), pid: process.pid, owner: expect.not.stringMatching(/^crashed$/) })
    expect((await readdir(dir)).filter((f) => f.startsWith('lock'))).toEqual(['lock'])
  })

  it('takes a lock over in place on a full disk in one write, padded with spaces to the old byte length, and reads it as its own though the old text held multi-byte characters', async () => {
    const dir = await tempDir()
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    // A host name of 3-byte characters: the old text is longer in bytes than in characters, and than the new text.
    const old = JSON.stringify({ owner: 'crashed', host: 'ホスト名'.repeat(30), pid: gone, ...(await space()) }) + '\n'
    await writeFile(lockFile(dir), old)
    const oldBytes = Buffer.byteLength(old)
    // No room for a fresh lock file to link into place.
    spyOnFs('writeFile').mockRejectedValueOnce(systemError('ENOSPC', 'write', path.join(dir, 'lock.tmp')))
    const handles = await fileHandlePrototype(dir)
    const writes = vi.spyOn(handles, 'write')
    const truncates = vi.spyOn(handles, 'truncate')
    onTestFinished(() => { writes.mockRestore(); truncates.mockRestore() })

    const { spool, lines, close } = await openSpool(dir, lease)
    expect(lines.filter((l) => l.msg === 'spool lock of a process that is gone taken over')).toHaveLength(1)
    // One write of the whole file from its start, and no truncate a crash could come before.
    const calls = writes.mock.calls as unknown as [Buffer, number, number, number][]
    expect(calls.map(([bytes, offset, length, position]) => [bytes.length, offset, length, position])).toEqual([[oldBytes, 0, oldBytes, 0]])
    expect(truncates).not.toHaveBeenCalled()
    const text = await readFile(lockFile(dir), 'utf8')
    expect(Buffer.byteLength(text)).toBe(oldBytes)
    const ours = text.slice(0, text.indexOf('\n') + 1)
    expect(text.slice(ours.length)).toMatch(/^ +$/)
    expect(JSON.parse(ours)).toMatchObject({ host: os.hostname(), pid: process.pid })

    // Its own: appends go through the lock check, and close removes it.
    await spool.append([rec(1)])
    expect(spool.depth).toBe(1)
    await close()
    await expect(readFile(lockFile(dir))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it.each([
    ['older than the lease', -60_000],
    ['dated ahead of the clock by more than the lease (the clock stepped back since)', 600_000],
  ])('removes a takeover guard a crash left %s, and takes the lock of a holder that is gone', async (_, offsetMs) => {
    const dir = await tempDir()
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'crashed', host: os.hostname(), pid: gone, ...(await space()) }))
    const guard = path.join(dir, 'lock.takeover')
    await writeFile(guard, '')
    const at = new Date(Date.now() + offsetMs)
    await utimes(guard, at, at)
    const { logger, lines } = captureLogs()
    const spool = await Spool.open(dir, { logger, ...lease })
    onTestFinished(() => spool.close())
    expect(lines.some((l) => l.msg === 'spool lock takeover guard left by a crash removed')).toBe(true)
    expect(await lockOf(dir)).toMatchObject({ pid: process.pid })
  })

  it('says so, instead of waiting for ever, when a stale lock cannot be taken over because its takeover guard stays', async () => {
    const dir = await tempDir()
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'crashed', host: os.hostname(), pid: gone, ...(await space()) }))
    const guard = path.join(dir, 'lock.takeover')
    await writeFile(guard, '')
    // Something keeps the guard fresh (what, this receiver cannot know).
    const toucher = setInterval(() => { const now = new Date(); void utimes(guard, now, now).catch(() => undefined) }, 50)
    onTestFinished(() => clearInterval(toucher))
    await expect(Spool.open(dir, { logger: captureLogs().logger, ...lease })).rejects.toThrow(`has a stale lock that cannot be taken over: remove ${guard} if no receiver runs`)
  })

  it('never takes a lock whose pid it cannot check, though no such pid runs here (same host name, another pid namespace: host networking)', async () => {
    const dir = await tempDir()
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'x', host: os.hostname(), pid: gone, boot: (await space()).boot, pidns: 'pid:[1]' }))
    const holder = setInterval(() => void touchedAgo(dir, 0), 50)
    onTestFinished(() => clearInterval(holder))
    await expect(Spool.open(dir, { logger: captureLogs().logger, ...lease })).rejects.toThrow('which keeps its lock fresh')
  })

  it('trusts no other clock: a holder whose clock is behind, touching its lock, keeps it', async () => {
    const dir = await tempDir()
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'x', host: 'nfs-client-2', pid: 1 }))
    // Each touch stamps a time 10 s in the past (the lease is 0.6 s): only the stamps changing say it is alive.
    let n = 0
    const holder = setInterval(() => void touchedAgo(dir, 10_000 + (n++ % 2)), 50)
    onTestFinished(() => clearInterval(holder))
    await expect(Spool.open(dir, { logger: captureLogs().logger, ...lease })).rejects.toThrow('which keeps its lock fresh')
  })

  it('never takes over a lock its holder keeps touching, though the wall clock steps forward during the wait', async () => {
    const dir = await tempDir()
    const held = JSON.stringify({ owner: 'x', host: 'another-host', pid: 1 })
    await writeFile(lockFile(dir), held)
    // The holder touches its lock once a refresh period (1 s), at its own true time.
    const holder = setInterval(() => { const t = new Date(); void utimes(lockFile(dir), t, t) }, 1_000)
    onTestFinished(() => clearInterval(holder))
    // An NTP step or a VM resumed: a quarter of a second into the wait, the wall clock jumps a minute ahead.
    const realNow = Date.now.bind(Date)
    const start = realNow()
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (realNow() - start > 250 ? 60_000 : 0))
    onTestFinished(() => { vi.restoreAllMocks() })
    await expect(Spool.open(dir, { logger: captureLogs().logger, lockRefreshMs: 1_000, lockStaleMs: 3_000 })).rejects.toThrow('which keeps its lock fresh')
    expect(await readFile(lockFile(dir), 'utf8')).toBe(held)
  })

  it('stops using the directory when its lock was taken over (it stood still past the lease): no drain, appends refused as retriable', async () => {
    const dir = await tempDir()
    const { spool, lines } = await openSpool(dir, lease)
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'the-new-owner', host: 'elsewhere', pid: 1 }))
    await waitFor(() => (lines.some((l) => l.msg === 'spool lock taken over by another process: this spool stops using the directory') ? true : undefined), { timeoutMs: 2_000, what: 'the loss noticed' })
    await expect(spool.append([rec(1)])).rejects.toBeInstanceOf(SpoolClosedError)
    expect(JSON.parse(await readFile(lockFile(dir), 'utf8'))).toMatchObject({ owner: 'the-new-owner' })
  })

  it('does not write the cursor of a drain that resumes after its lock was taken over', async () => {
    const dir = await tempDir()
    let lost = 0
    // A refresh too slow to notice first: the cursor write has to.
    const { spool } = await openSpool(dir, { lockRefreshMs: 60_000, lockStaleMs: 120_000, onLockLost: () => { lost++ } })
    await spool.append([rec(1), rec(2)])
    let acknowledge: (() => void) | undefined
    spool.startDraining(() => new Promise<void>((resolve) => { acknowledge = resolve }))
    await waitFor(() => (acknowledge ? true : undefined), { what: 'a publish under way' })
    // Stood still in the publish past the lease: another receiver took the directory over.
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'the-new-owner', host: 'elsewhere', pid: 1 }))
    acknowledge!()
    await waitFor(() => (lost > 0 ? true : undefined), { timeoutMs: 2_000, what: 'the loss noticed' })
    await expect(readFile(path.join(dir, 'cursor.json'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(lost).toBe(1)
  })

  it('tells its owner once when the lock was lost', async () => {
    const dir = await tempDir()
    let told = 0
    // Only the lock's refresh is on fake time: the test ticks it, and sees whether a tick is still to come.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    onTestFinished(() => { vi.useRealTimers() })
    const { spool } = await openSpool(dir, { ...lease, onLockLost: () => { told++ } })
    expect(vi.getTimerCount()).toBe(1)
    await writeFile(lockFile(dir), JSON.stringify({ owner: 'the-new-owner', host: 'elsewhere', pid: 1 }))
    await vi.advanceTimersByTimeAsync(lease.lockRefreshMs)
    await waitFor(() => (told > 0 ? true : undefined), { timeoutMs: 2_000, what: 'the owner told' })
    // The refresh stopped at the loss: nothing is left to look at the lock, and so to tell the owner, again.
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(20 * lease.lockRefreshMs)
    expect(told).toBe(1)
    await expect(spool.append([rec(1)])).rejects.toBeInstanceOf(SpoolClosedError)
  })

  it('keeps its lock fresh while open', async () => {
    const dir = await tempDir()
    await openSpool(dir, lease)
    await touchedAgo(dir, 5_000)
    await waitFor(async () => (Date.now() - (await stat(lockFile(dir))).mtimeMs < 1_000 ? true : undefined), { timeoutMs: 2_000, what: 'the lock touched again' })
  })

  it('leaves a lock that is no longer its own at close', async () => {
    const dir = await tempDir()
    const { close } = await openSpool(dir, lease)
    const other = JSON.stringify({ owner: 'someone-else', host: 'another-host', pid: 1 })
    await writeFile(lockFile(dir), other)
    await close()
    expect(await readFile(lockFile(dir), 'utf8')).toBe(other)
  })

  it('lets exactly one of several receivers starting together open the directory', async () => {
    const dir = await tempDir()
    const fixture = fileURLToPath(new URL('./fixtures/open-and-hold.ts', import.meta.url))
    const children = Array.from({ length: 4 }, () => spawn(process.execPath, [fixture, dir], { stdio: ['pipe', 'pipe', 'inherit'] }))
    onTestFinished(() => { for (const c of children) c.kill('SIGKILL') })
    const answers = await Promise.all(children.map(async (c) => String((await once(c.stdout!, 'data'))[0]).trim()))
    expect(answers.filter((a) => a === 'OPEN')).toHaveLength(1)
    expect(answers.filter((a) => a === 'REFUSED')).toHaveLength(3)
    for (const c of children) c.stdin!.end()
    await Promise.all(children.map((c) => once(c, 'exit')))
    await expect(readFile(lockFile(dir))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('Spool whose process stood still past its lease', () => {
  const fixture = fileURLToPath(new URL('./fixtures/append-until-stopped.ts', import.meta.url))
  const ackedIn = async (log: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('A ')).map((l) => l.slice(2))

  it('acknowledges nothing once another receiver took the directory over, though it resumes mid-append: every acknowledged record is published', async () => {
    const dir = await tempDir()
    const spoolDir = path.join(dir, 'spool')
    const log = path.join(dir, 'acks.log')
    const stopped = spawn(process.execPath, [fixture, spoolDir, log], { stdio: ['ignore', 'pipe', 'inherit'] })
    onTestFinished(() => { stopped.kill('SIGKILL') })
    await once(stopped.stdout!, 'data')
    await waitFor(async () => ((await ackedIn(log)).length >= 50 ? true : undefined), { what: 'appends acknowledged' })
    stopped.kill('SIGSTOP')

    // The new owner takes the directory once the lease is over, drains it, and writes on until the segment
    // the stopped one was appending to is drained and deleted.
    const { spool } = await openSpool(spoolDir, { segmentBytes: 4096, lockRefreshMs: 50, lockStaleMs: 600 })
    const [stoppedIn] = (await segmentsIn(spoolDir)).slice(-1)
    const k = kafka()
    spool.startDraining(k.publish)
    for (let i = 0; (await segmentsIn(spoolDir)).at(-1) === stoppedIn; i++) await spool.append([rec(`b${i}`, 'v'.repeat(200))])
    await waitFor(async () => ((await segmentsIn(spoolDir)).includes(stoppedIn!) ? undefined : true), { what: 'the stopped one\'s segment deleted' })

    const exited = once(stopped, 'exit')
    stopped.kill('SIGCONT')
    // It learns of the loss and exits, as the receiver does.
    expect((await exited)[0]).toBe(3)
    expect(await spool.drained(5000)).toBe(true)
    const published = new Set(k.published.map((r) => r.key))
    expect((await ackedIn(log)).filter((key) => !published.has(key))).toEqual([])
  }, 30_000)
})
