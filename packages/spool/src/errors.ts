import { constants } from 'node:os'

/**
 * The spool's errors say whether a retry can help: a record too large for the spool never fits, a closed
 * spool (the receiver is shutting down) is worth retrying against the next instance.
 */
export class SpoolRecordTooLargeError extends Error {
  readonly code = 'SPOOL_RECORD_TOO_LARGE'
  readonly retriable = false
  readonly bytes: number
  readonly maxRecordBytes: number
  constructor(bytes: number, maxRecordBytes: number) {
    super(`a spool record of ${bytes} bytes is over the ${maxRecordBytes}-byte limit`)
    this.name = 'SpoolRecordTooLargeError'
    this.bytes = bytes
    this.maxRecordBytes = maxRecordBytes
  }
}

export class SpoolClosedError extends Error {
  readonly code = 'SPOOL_CLOSED'
  readonly retriable = true
  constructor() {
    super('spool is closed')
    this.name = 'SpoolClosedError'
  }
}

/**
 * The spool already holds `maxBytes` not yet drained (Kafka has been down a while): nothing of the append
 * is kept. Shaped as the kernel's disk-quota error (EDQUOT from a write), which the limit is, so a caller
 * handles it as a full disk: the receiver answers 503 with Retry-After, and the drain makes room again.
 */
export class SpoolFullError extends Error {
  readonly code = 'EDQUOT'
  readonly errno = -constants.errno.EDQUOT
  readonly syscall = 'write'
  readonly retriable = true
  /** Bytes waiting to be drained, with the appends being written. */
  readonly bytes: number
  /** Bytes the refused append would have added. */
  readonly appendBytes: number
  readonly maxBytes: number
  constructor(bytes: number, appendBytes: number, maxBytes: number) {
    super(`EDQUOT: the spool is full, ${bytes} bytes wait for Kafka and ${appendBytes} more would pass its ${maxBytes}-byte limit`)
    this.name = 'SpoolFullError'
    this.bytes = bytes
    this.appendBytes = appendBytes
    this.maxBytes = maxBytes
  }
}
