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
