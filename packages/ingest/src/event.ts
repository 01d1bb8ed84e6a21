import { createHash } from 'node:crypto'
import type { AlertEvent, AlertSource, Severity, StringMap } from '@opsreview/schemas'

export type { AlertEvent, AlertSource, Severity }

/** How sender fields become service, environment and severity. Comes from the receiver's config. */
export interface IngestOptions {
  /** Labels that name the service, first present wins. */
  serviceLabels: readonly string[]
  /** Labels that name the environment, first present wins. */
  environmentLabels: readonly string[]
  defaultEnvironment: string
  /** Pingdom tag prefixes that carry the service, e.g. `service:` and `service_`. */
  pingdomServiceTagPrefixes: readonly string[]
  pingdomEnvironmentTagPrefixes: readonly string[]
}

export const defaultIngestOptions: IngestOptions = Object.freeze({
  serviceLabels: ['service', 'job', 'app'],
  environmentLabels: ['env', 'environment', 'namespace'],
  defaultEnvironment: 'production',
  pingdomServiceTagPrefixes: ['service:', 'service_'],
  pingdomEnvironmentTagPrefixes: ['env:', 'env_'],
})

/** What the caller knows that the payload does not: when it arrived. */
export interface IngestContext {
  receivedAt: Date
  options: IngestOptions
}

function digest(parts: readonly string[], hexChars: number): string {
  const h = createHash('sha256')
  // A separator that cannot occur in the parts keeps ("ab","c") apart from ("a","bc").
  for (const p of parts) h.update(p).update('\u0000')
  return h.digest('hex').slice(0, hexChars)
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

export function firstLabel(labels: StringMap, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = labels[n]
    if (v) return v
  }
  return undefined
}

const severityWords: Record<string, Severity> = {
  critical: 'critical', crit: 'critical', page: 'critical', error: 'critical', high: 'critical', p1: 'critical', fatal: 'critical',
  warning: 'warning', warn: 'warning', medium: 'warning', p2: 'warning', p3: 'warning',
  info: 'info', informational: 'info', low: 'info', none: 'info', p4: 'info', p5: 'info',
}

/** Maps the many severity words in the wild onto ours; an unknown word is a warning, not an error. */
export function normalizeSeverity(word: string | undefined): Severity {
  return (word && severityWords[word.toLowerCase()]) || 'warning'
}

/** Normalises a timestamp to ISO 8601 with milliseconds, so equal instants hash equally. */
export function isoTime(value: string | number | Date): string {
  return new Date(value).toISOString()
}
