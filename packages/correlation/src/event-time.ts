import { parseTime } from './state.ts'
import type { AlertEvent } from './types.ts'

export interface EventTime {
  /** Epoch milliseconds. */
  t: number
  /** The same instant as the sender wrote it (or as ISO when clamped), for the documents. */
  iso: string
  clamped: boolean
}

/**
 * An event's time is its sender's: `startsAt` for a firing, a report (its `occurredAt`) or a Pingdom
 * check going down, `endsAt` for a resolve. It is never later than the receipt plus `toleranceMs`, so a
 * sender whose clock runs fast cannot push decisions into the future.
 */
export function eventTimeOf(event: AlertEvent, toleranceMs: number): EventTime {
  let raw = event.status === 'resolved' && event.source !== 'report' ? (event.endsAt ?? event.receivedAt) : event.startsAt
  let t = parseTime(raw)
  const received = parseTime(event.receivedAt)
  if (!Number.isFinite(t)) { t = received; raw = event.receivedAt }
  if (t > received + toleranceMs) {
    t = received + toleranceMs
    return { t, iso: new Date(t).toISOString(), clamped: true }
  }
  return { t, iso: raw, clamped: false }
}

/** The order of events at one instant: a firing before a report before a resolve. */
export function rankOf(event: AlertEvent): number {
  return event.source === 'report' ? 1 : event.status === 'firing' ? 0 : 2
}

/**
 * The event with its receipt (`receivedAt`) no later than `latestMs`, or the event itself when it is not.
 * A receipt is the receiver's clock: one running years ahead (or another producer's record) moved its
 * partition's watermark there, resolved every firing incident of it by staleness, and held every later
 * event as late. The correlator's rekeyer clamps before the input log, a replay as it reads the alerts topic.
 */
export function withReceiptNoLaterThan(event: AlertEvent, latestMs: number): AlertEvent {
  return Date.parse(event.receivedAt) > latestMs ? { ...event, receivedAt: new Date(latestMs).toISOString() } : event
}
