/**
 * A checkpoint the engine cannot continue from: written by an engine with other semantics (version 1
 * timed everything on receipt, not on event time). Never retriable: the caller drops the snapshot and
 * rebuilds the partition by replaying its input log from the beginning.
 */
export class SnapshotVersionError extends Error {
  readonly code = 'SNAPSHOT_VERSION'
  readonly retriable = false
  readonly found: unknown
  readonly expected: number

  constructor(found: unknown, expected: number) {
    super(`engine snapshot version ${String(found)} cannot be restored by this engine (version ${expected}); replay the input log from the beginning instead`)
    this.name = 'SnapshotVersionError'
    this.found = found
    this.expected = expected
  }
}

/**
 * An alert event with no readable time (neither its own nor its receipt): poison, never retriable. The
 * engine refuses it before changing anything, so the caller can dead-letter it and go on.
 */
export class EventTimeError extends Error {
  readonly code = 'EVENT_TIME'
  readonly retriable = false

  constructor(eventId: string) {
    super(`alert event ${eventId} has no readable time (startsAt/endsAt or receivedAt)`)
    this.name = 'EventTimeError'
  }
}

/**
 * The engine's state outgrew what one process can hold (a Map or Set at V8's 2^24 entries, an allocation
 * refused). Not the input's fault: every later input would fail the same way, so it is no poison to
 * dead-letter. Never retriable either (a replay rebuilds the same state); the state is half-changed, so
 * the engine must not be used again. The remedy is an operator's: a shorter retention, more partitions.
 */
export class EngineCapacityError extends Error {
  readonly code = 'ENGINE_CAPACITY'
  readonly retriable = false
  override readonly name = 'EngineCapacityError'

  constructor(cause: Error) {
    super(`the engine's state is at a limit of the runtime (${cause.message}): shorten OPSREVIEW_CORRELATOR_RETENTION or spread the input over more partitions`, { cause })
  }
}

// V8's RangeErrors for a collection at its limit or an allocation refused.
const ROOM_REFUSED = /^(Map maximum size exceeded|Set maximum size exceeded|Array buffer allocation failed)/
// And for a length past 2^32 - 1 or ~2^29 characters, which no input record (at most a few MiB) reaches on its own.
const INVALID_LENGTH = /^(Invalid array length|Invalid string length|Invalid typed array length)/

/**
 * Whether an error is the runtime refusing room outright: a table at V8's limit, an allocation refused. Not
 * an invalid length, which a restore also meets from a bad number in a snapshot it reads.
 */
export function isRoomRefused(err: unknown): err is RangeError {
  return err instanceof RangeError && ROOM_REFUSED.test(err.message)
}

/** Whether an error is the runtime refusing the engine more room (`EngineCapacityError`'s cause). */
export function isCapacityError(err: unknown): err is RangeError {
  return isRoomRefused(err) || (err instanceof RangeError && INVALID_LENGTH.test(err.message))
}
