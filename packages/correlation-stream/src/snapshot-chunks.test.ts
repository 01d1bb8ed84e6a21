import { randomBytes } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { checksumOf, decodeSnapshot, decodeSteps, encodeSnapshot, snapshotChunks } from './snapshot-chunks.ts'

describe('snapshot chunks', () => {
  // Text that compresses well, binary that does not, multi-byte characters a cut may split, empty arrays, scalars.
  const snapshot = {
    version: 3,
    watermark: 1_764_547_200_000,
    empty: [],
    nothing: null,
    records: Array.from({ length: 5_000 }, (_, i) => ({ id: `inc-${i}`, title: `Höhe ✓ 警告 ${i % 97}`, at: i * 1000 })),
    blocks: Array.from({ length: 12 }, () => randomBytes(12_000).toString('base64')),
    nested: { a: [1, 2, 3] },
  }

  it('round-trips, with every chunk within the limit, however the text is cut', () => {
    for (const max of [4 * 1024, 32 * 1024, 512 * 1024]) {
      const encoded = encodeSnapshot(snapshot, max)
      expect(encoded.chunks.every((c) => c.length <= max)).toBe(true)
      expect(encoded.rawBytes).toBe(encoded.chunks.reduce((n, c) => n + gunzipSync(c).length, 0))
      expect(encoded.checksum).toBe(checksumOf(encoded.chunks))
      expect(decodeSnapshot(encoded.chunks)).toEqual(snapshot)
    }
  }, 30_000)

  it('encodes and decodes in steps, a chunk or an array field of work each, to the same result', () => {
    // Within a chunk of the default size (2 MB of text or so) a step comes every 256 KiB of text.
    const encoding = snapshotChunks(snapshot)
    const chunks: Buffer[] = []
    let steps = 0
    let r = encoding.next()
    for (; !r.done; r = encoding.next()) {
      if (r.value) chunks.push(r.value)
      else steps++
    }
    expect(steps).toBeGreaterThan(0)
    expect(r.value.checksum).toBe(checksumOf(chunks))
    const decoding = decodeSteps(chunks)
    let turns = 0
    let d = decoding.next()
    for (; !d.done; d = decoding.next()) turns++
    // A step per chunk, then one per top-level array as its slices are joined.
    expect(turns).toBe(chunks.length + Object.values(snapshot).filter(Array.isArray).length)
    expect(d.value).toEqual(snapshot)
  })

  it('refuses chunks that end in the middle of a line: one is missing', () => {
    const { chunks } = encodeSnapshot(snapshot, 8 * 1024)
    expect(chunks.length).toBeGreaterThan(3)
    expect(() => decodeSnapshot(chunks.slice(0, -1))).toThrow(/missing/)
  })
})
