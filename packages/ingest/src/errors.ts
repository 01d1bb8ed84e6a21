/**
 * Why the receiver refused one input (an alert of a webhook, a Pingdom message, a report). Stable,
 * lower-case codes: they are the `reason` of the dead-letter envelope and a metric label. None is
 * retriable: the same input is refused again until the sender or the receiver changes.
 */
export const rejectReasons = {
  /** The input does not match its sender's schema (a missing field, a cap, a date `Date` cannot hold). */
  'schema-invalid': 'The input does not match its schema',
  /** The canonical event made from it is not a valid alert.v1 event: a cap, a time outside the bounds. */
  'event-invalid': 'The canonical event would be invalid',
  /** Mapping the input threw: a defect of the receiver, kept for replay once fixed. */
  'mapping-failed': 'The input could not be mapped to an event',
} as const

export type RejectReason = keyof typeof rejectReasons
