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
 * is kept. Retriable: the drain makes room as Kafka takes the records, so the sender's retry may fit.
 */
export class SpoolFullError extends Error {
  readonly code = 'SPOOL_FULL'
  readonly retriable = true
  /** Bytes waiting to be drained, with the appends being written. */
  readonly bytes: number
  /** Bytes the refused append would have added. */
  readonly appendBytes: number
  readonly maxBytes: number
  constructor(bytes: number, appendBytes: number, maxBytes: number) {
    super(`the spool is full: ${bytes} bytes wait for Kafka and ${appendBytes} more would pass its ${maxBytes}-byte limit`)
    this.name = 'SpoolFullError'
    this.bytes = bytes
    this.appendBytes = appendBytes
    this.maxBytes = maxBytes
  }
}
