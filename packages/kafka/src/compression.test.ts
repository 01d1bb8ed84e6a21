import snappy from 'snappyjs'
import xxh32 from 'lz4js/xxh32.js'
import { describe, expect, it } from 'vitest'
import { lz4Compress, lz4Decompress, snappyDecompress } from './compression.ts'

/** Text that compresses, with a byte changed now and then so the blocks are not all alike. */
const sample = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => 'checkout latency high '.charCodeAt(i % 22) ^ (i % 97 === 0 ? 1 : 0)))

/** The frame `lz4Compress` writes, with a checksum after each block and the flag that says so (as `lz4 -BX` writes). */
function withBlockChecksums(frame: Buffer): Buffer {
  const header = Buffer.from(frame.subarray(0, 7))
  header[4] = header[4]! | 0x10
  header[6] = (xxh32.hash(0, header, 4, 2) >>> 8) & 0xff
  const parts: Buffer[] = [header]
  for (let at = 7; ;) {
    const word = frame.readUInt32LE(at)
    parts.push(frame.subarray(at, at + 4))
    at += 4
    if (word === 0) break
    const data = frame.subarray(at, at + (word & 0x7fffffff))
    const sum = Buffer.alloc(4)
    sum.writeUInt32LE(xxh32.hash(0, data, 0, data.length) >>> 0)
    parts.push(data, sum)
    at += data.length
  }
  return Buffer.concat(parts)
}

describe('LZ4 frames', () => {
  it('reads back what it writes, in one block or several, compressible or not', () => {
    for (const n of [0, 10, 1000, 70_000, 200_001]) expect(lz4Decompress(lz4Compress(sample(n))).equals(sample(n)), `${n} bytes`).toBe(true)
    const random = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 2_654_435_761) >>> 24))
    expect(lz4Decompress(lz4Compress(random)).equals(random)).toBe(true)
  })

  it('reads a frame with a checksum after each block (lz4js read the checksum as data, silently)', () => {
    const src = sample(150_000)
    expect(lz4Decompress(withBlockChecksums(lz4Compress(src))).equals(src)).toBe(true)
  })

  it('refuses what is not a whole LZ4 frame, rather than returning garbage', () => {
    expect(() => lz4Decompress(Buffer.from('not a frame at all'))).toThrow(/not an LZ4 frame/)
    const frame = lz4Compress(sample(1000))
    expect(() => lz4Decompress(frame.subarray(0, frame.length - 6))).toThrow(RangeError)
  })
})

describe('snappy as Kafka clients write it', () => {
  it('reads one raw block, and the Java client\'s xerial framing of several', () => {
    const a = sample(5000)
    const b = sample(300)
    expect(snappyDecompress(Buffer.from(snappy.compress(a))).equals(a)).toBe(true)
    const chunk = (data: Buffer) => {
      const packed = Buffer.from(snappy.compress(data))
      const length = Buffer.alloc(4)
      length.writeUInt32BE(packed.length)
      return [length, packed]
    }
    const xerial = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]), ...chunk(a), ...chunk(b)])
    expect(snappyDecompress(xerial).equals(Buffer.concat([a, b]))).toBe(true)
    expect(() => snappyDecompress(xerial.subarray(0, xerial.length - 10))).toThrow(RangeError)
  })
})
