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
