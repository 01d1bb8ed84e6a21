/**
 * The compression codecs kafkajs lacks: it decodes gzip alone, and a record batch compressed with snappy,
 * lz4 or zstd (the usual `compression.type` of Java and librdkafka producers, which the broker stores as
 * sent) failed every fetch of its partition with KafkaJSNotImplemented, which kafkajs does not retry: the
 * consumer stopped on it, restarted into it, and no handler ever saw the record to dead-letter it.
 * Pure JavaScript (lz4js, snappyjs) and Node's own zstd: nothing to compile.
 */
// The codec libraries' types, for any program that holds this file (a service's own tsconfig, not only the
// workspace's): ambient module declarations, which an import cannot bring in.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./codec-libraries.d.ts" />
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib'
import kafkajs from 'kafkajs'
import lz4 from 'lz4js'
import xxh32 from 'lz4js/xxh32.js'
import snappy from 'snappyjs'

// From the default export: kafkajs is CommonJS, and plain Node does not see these as named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>
  decompress(buffer: Buffer): Promise<Buffer>
}

/** The Java client's snappy stream (xerial's framing): a 16-byte header, then chunks of length + snappy block. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])

/** Snappy as Kafka's clients write it: xerial-framed (the Java client, librdkafka) or one raw block. */
export function snappyDecompress(buffer: Buffer): Buffer {
  if (buffer.length < 16 || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) return Buffer.from(snappy.uncompress(buffer))
  const chunks: Buffer[] = []
  for (let at = 16; at < buffer.length;) {
    const size = buffer.readUInt32BE(at)
    at += 4
    if (at + size > buffer.length) throw new RangeError(`snappy chunk of ${size} bytes runs past the end of the batch`)
    chunks.push(Buffer.from(snappy.uncompress(buffer.subarray(at, at + size))))
    at += size
  }
  return Buffer.concat(chunks)
}

const LZ4_BLOCK = 64 * 1024

/**
 * An LZ4 frame as Kafka reads it: the broker refuses a frame whose blocks may depend on each other, and
 * lz4js writes such frames (its block independence flag unset, one hash table across blocks), so each
 * block here is compressed with a table of its own, and the flag is set. Blocks of at most 64 KiB.
 */
export function lz4Compress(src: Buffer): Buffer {
  // Magic (little-endian), FLG: version 01 and block independence, BD: 64 KiB blocks, then the header checksum.
  const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0])
  header[6] = (xxh32.hash(0, header, 4, 2) >>> 8) & 0xff
  const parts: Buffer[] = [header]
  const block = new Uint8Array(lz4.compressBound(LZ4_BLOCK))
  for (let at = 0; at < src.length; at += LZ4_BLOCK) {
    const size = Math.min(LZ4_BLOCK, src.length - at)
    const packed = lz4.compressBlock(src, block, at, size, new Uint32Array(1 << 16))
    const length = Buffer.alloc(4)
    // Stored as is (the high bit says so) when it does not get smaller.
    if (packed === 0 || packed >= size) {
      length.writeUInt32LE((0x80000000 | size) >>> 0)
      parts.push(length, src.subarray(at, at + size))
    } else {
      length.writeUInt32LE(packed)
      parts.push(length, Buffer.from(block.subarray(0, packed)))
    }
  }
  parts.push(Buffer.alloc(4))
  return Buffer.concat(parts)
}

/** Block sizes by the frame descriptor's BD code. */
const LZ4_BLOCK_SIZES: Record<number, number> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 }

/**
 * The content of an LZ4 frame. lz4js's own reader skips a block's checksum before its data instead of after
 * it, and a frame with block checksums came out garbled without an error; this one reads the frame itself
 * and hands lz4js each block.
 */
export function lz4Decompress(src: Buffer): Buffer {
  if (src.length < 7 || src.readUInt32LE(0) !== 0x184d2204) throw new RangeError('not an LZ4 frame')
  const flg = src[4]!
  const maxBlock = LZ4_BLOCK_SIZES[(src[5]! >> 4) & 7]
  if ((flg & 0xc0) !== 0x40 || maxBlock === undefined) throw new RangeError('an LZ4 frame of another version or block size')
  const blockChecksums = (flg & 0x10) !== 0
  // Magic, FLG and BD; the content size and the dictionary id when present; the header checksum.
  let at = 6 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1
  const block = Buffer.alloc(maxBlock)
  const out: Buffer[] = []
  for (;;) {
    if (at + 4 > src.length) throw new RangeError('an LZ4 frame without its end mark')
    const word = src.readUInt32LE(at)
    at += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    if (size > maxBlock || at + size > src.length) throw new RangeError(`an LZ4 block of ${size} bytes runs past its frame or its block size`)
    if ((word & 0x80000000) !== 0) out.push(Buffer.from(src.subarray(at, at + size)))
    else out.push(Buffer.from(block.subarray(0, lz4.decompressBlock(src, block, at, size, 0))))
    at += size + (blockChecksums ? 4 : 0)
  }
  return Buffer.concat(out)
}

const codecs: Record<'Snappy' | 'LZ4' | 'ZSTD', Codec> = {
  Snappy: {
    compress: async ({ buffer }) => Buffer.from(snappy.compress(buffer)),
    decompress: async (buffer) => snappyDecompress(buffer),
  },
  // LZ4 frames, as the Java client and librdkafka write them since message format v1.
  LZ4: {
    compress: async ({ buffer }) => lz4Compress(buffer),
    decompress: async (buffer) => lz4Decompress(buffer),
  },
  ZSTD: {
    compress: async ({ buffer }) => zstdCompressSync(buffer),
    decompress: async (buffer) => zstdDecompressSync(buffer),
  },
}

/** Teaches kafkajs (process-wide: its codec table is one) to read and write snappy, lz4 and zstd batches. */
export function registerCompressionCodecs(): void {
  for (const [type, codec] of Object.entries(codecs) as [keyof typeof codecs, Codec][]) CompressionCodecs[CompressionTypes[type]] = () => codec
}
