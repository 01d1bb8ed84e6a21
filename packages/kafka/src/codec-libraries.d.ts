// The two codec libraries ship no types: what compression.ts uses of them.
declare module 'lz4js' {
  const lz4: {
    /** The largest a block of `n` bytes compresses to. */
    compressBound(n: number): number
    /** Compresses src[sIndex, sIndex + sLength) into `dst` as one LZ4 block; returns its size (0: incompressible). */
    compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number
    /** Decompresses the LZ4 block src[sIndex, sIndex + sLength) into `dst` from `dIndex`; returns the index after it. */
    decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number
  }
  export = lz4
}

declare module 'lz4js/xxh32.js' {
  const xxh32: {
    /** xxHash32 of src[index, index + length). */
    hash(seed: number, src: Uint8Array, index: number, length: number): number
  }
  export = xxh32
}

declare module 'snappyjs' {
  const snappy: {
    /** One raw snappy block of `src`. */
    compress(src: Uint8Array): Uint8Array
    /** The content of one raw snappy block. */
    uncompress(src: Uint8Array): Uint8Array
  }
  export = snappy
}
