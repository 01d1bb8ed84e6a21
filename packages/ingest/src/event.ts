import { hash } from 'node:crypto'
import { firstCodePoints, MAX_INSTANT_MS, MIN_INSTANT_MS, parseDateTime, withinCodePoints, type AlertEvent, type AlertSource, type Severity, type StringMap } from '@opsreview/schemas'
import { defaultGroupingRules, type GroupingRules } from '@opsreview/grouping'

export type { AlertEvent, AlertSource, Severity }

/** How sender fields become service, environment and severity. Comes from the receiver's config. */
export interface IngestOptions {
  /**
   * Which labels name an alert's service and environment, and the environment of events that name none
   * (Pingdom checks without an env tag, reports without one): the grouping rules (docs/grouping.md).
   */
  grouping: GroupingRules
  /** Pingdom tag prefixes that carry the service, e.g. `service:` and `service_`. */
  pingdomServiceTagPrefixes: readonly string[]
  pingdomEnvironmentTagPrefixes: readonly string[]
  /** How far before its arrival an event may have started (a long-firing alert is months old). */
  maxEventAgeMs: number
  /** How far after its arrival an event time may lie: the sender's clock running a little ahead. */
  maxClockSkewMs: number
}

export const defaultIngestOptions: IngestOptions = Object.freeze({
  grouping: defaultGroupingRules,
  pingdomServiceTagPrefixes: ['service:', 'service_'],
  pingdomEnvironmentTagPrefixes: ['env:', 'env_'],
  maxEventAgeMs: 730 * 86_400_000,
  maxClockSkewMs: 3_600_000,
})

/** What the caller knows that the payload does not: when it arrived. */
export interface IngestContext {
  receivedAt: Date
  options: IngestOptions
}

function digest(parts: readonly string[], hexChars: number): string {
  // Each part ended by a NUL keeps ("ab","c") apart from ("a","bc"): the ids and fingerprints already on
  // Kafka. The one-shot hash of the joined parts is the same digest as updating part by part, at a quarter
  // of the cost. A label value or a report field may hold a NUL itself ({alertname: "A\0instance\0db-1"}
  // hashed as {alertname: "A", instance: "db-1"}, and the receiver dropped the second alert as a copy):
  // such parts go as JSON, which holds no raw NUL, ended by one NUL. No caller hashes a single part, so
  // no NUL-free list (as many NULs as parts) hashes the same text.
  for (const p of parts) if (p.includes('\u0000')) return hash('sha256', `${JSON.stringify(parts)}\u0000`).slice(0, hexChars)
  return hash('sha256', parts.length === 0 ? '' : `${parts.join('\u0000')}\u0000`).slice(0, hexChars)
}

/**
 * The event id: a redelivered notification (same alert, same state, same event time) gets the same id,
 * so every later stage can drop it.
 */
export function eventId(source: AlertSource, fingerprint: string, status: string, eventTime: string): string {
  return digest([source, fingerprint, status, eventTime], 32)
}

/** A stable fingerprint from a label set, for senders that do not send one (Alertmanager before 0.20). */
export function labelsFingerprint(labels: StringMap): string {
  const keys = Object.keys(labels).sort()
  return digest(keys.flatMap((k) => [k, labels[k] ?? '']), 16)
}

export function stableHash(parts: readonly string[]): string {
  return digest(parts, 16)
}

/** The Kafka key: all events of one alert go to one partition, in order. */
export function eventKey(event: Pick<AlertEvent, 'source' | 'fingerprint'>): string {
  return `${event.source}:${event.fingerprint}`
}

/** The time the state change happened: the start of a firing, the end of a resolve. */
export function eventTime(event: Pick<AlertEvent, 'status' | 'startsAt' | 'endsAt'>): string {
  return event.status === 'resolved' && event.endsAt ? event.endsAt : event.startsAt
}

// A Map, not an object: a sender's word is data, and `constructor` or `__proto__` must not find a property.
const severityWords: ReadonlyMap<string, Severity> = new Map(Object.entries({
  critical: 'critical', crit: 'critical', page: 'critical', error: 'critical', high: 'critical', p1: 'critical', fatal: 'critical',
  warning: 'warning', warn: 'warning', medium: 'warning', p2: 'warning', p3: 'warning',
  info: 'info', informational: 'info', low: 'info', none: 'info', p4: 'info', p5: 'info',
} satisfies Record<string, Severity>))

/** Maps the many severity words in the wild onto ours; an unknown word is a warning, not an error. */
export function normalizeSeverity(word: string | undefined): Severity {
  return (word && severityWords.get(word.toLowerCase())) || 'warning'
}

/** A sender's map, read by own properties only: a label named `constructor` is not Object's. */
export function own(map: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined
}

/**
 * Cuts a derived display text (a title, a description assembled from several fields) to `max` code
 * points, ending in an ellipsis: a long summary shortens the title instead of losing the alert.
 */
export function truncateText(value: string, max: number): string {
  return withinCodePoints(value, max) ? value : `${firstCodePoints(value, max - 1)}…`
}

/**
 * Normalises a timestamp to ISO 8601 with milliseconds, so equal instants hash equally. Strings are read
 * by the schemas' strict date-time parser, never by `Date`'s lenient one; a value outside years
 * 0000–9999 throws, as `toISOString` would.
 */
export function isoTime(value: string | number | Date): string {
  const ms = typeof value === 'string' ? parseDateTime(value) : new Date(value).getTime()
  if (ms === undefined || !(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS)) throw new RangeError(`not a representable date-time: ${String(value).slice(0, 64)}`)
  // Already in that form (a 24-character date-time with an upper-case T and Z has three digits of
  // milliseconds and no offset): the same string, not a new one from a Date.
  if (typeof value === 'string' && value.length === 24 && value.charCodeAt(10) === 84 && value.charCodeAt(23) === 90) return value
  return new Date(ms).toISOString()
}
