import {
  alertEventCaps, escapePointer, validateAlertEvent, validateAlertmanagerAlert, validateAlertmanagerAlertToFirstError, validateAlertmanagerEnvelope,
  validatePingdomWebhook, validateReport,
  type AlertEvent, type AlertmanagerWebhook, type FieldError,
} from '@opsreview/schemas'
import { descriptionOrigin, eventGroupKey, normalizeAlertmanagerAlert, titleOrigin } from './alertmanager.ts'
import { normalizePingdom } from './pingdom.ts'
import { normalizeReport } from './report.ts'
import type { IngestContext } from './event.ts'
import type { RejectReason } from './errors.ts'
import { MAX_ALERTS_PER_NOTIFICATION, MAX_ENVELOPE_MAP_ENTRIES, MAX_EVENT_BYTES, MAX_LISTED_ALERT_ERRORS } from './limits.ts'

/**
 * From a parsed request body to canonical events, validated at the edge: the sender's schema, then the
 * canonical schema (alert.v1.json), the time bounds and the size cap, so that nothing the receiver
 * acknowledges is refused by a later stage. Pure: the caller gives the clock (ctx.receivedAt).
 */

/** One refused input of a batch: its index and every failing field, by JSON Pointer into the body. */
export interface ItemRejection {
  index: number
  reason: RejectReason
  errors: FieldError[]
}

/** A body refused as a whole: nothing in it can be used. */
export interface BodyRejection {
  ok: false
  reason: RejectReason
  errors: FieldError[]
}

export type AlertmanagerIntake =
  | BodyRejection
  | {
    ok: true
    /** The notification, its group key as its events carry it (`eventGroupKey`). */
    payload: AlertmanagerWebhook
    /** The good alerts' events, with the index of their alert and the event serialised (JSON). */
    accepted: { index: number; event: AlertEvent; value: string }[]
    rejected: ItemRejection[]
    truncatedAlerts: number
  }

/** `value` is the event serialised (JSON): the size check made it, and the receiver publishes it as is. */
export type SingleIntake = BodyRejection | { ok: true; event: AlertEvent; value: string }

/**
 * Where an event field comes from in a sender's body, for naming the input field a check failed on; a
 * link by its `rel` (`links:<rel>`) where links come from several fields.
 */
type FieldOrigins = ReadonlyMap<string, string>

const alertmanagerFields: FieldOrigins = new Map([
  ['startsAt', 'startsAt'], ['endsAt', 'endsAt'], ['fingerprint', 'fingerprint'], ['labels', 'labels'],
  ['service', 'labels'], ['environment', 'labels'],
  ['links:generator', 'generatorURL'], ['links:runbook', 'annotations/runbook_url'], ['links:dashboard', 'annotations/dashboard_url'],
  ['origin/annotations', 'annotations'],
])

/** An Alertmanager event's origins, with the annotation or label its title and its description came from. */
function alertmanagerOrigins(event: AlertEvent): FieldOrigins {
  const annotations = (event.origin?.annotations ?? {}) as Record<string, string>
  const origins = new Map(alertmanagerFields)
  origins.set('title', titleOrigin(annotations))
  // An event without a description has no part for the entry to name.
  const describedBy = descriptionOrigin(annotations)
  if (describedBy) origins.set('description', describedBy)
  return origins
}
const pingdomOrigins: FieldOrigins = new Map([
  ['startsAt', 'state_changed_timestamp'], ['endsAt', 'state_changed_timestamp'], ['fingerprint', 'check_id'],
  ['service', 'check_name'], ['title', 'check_name'], ['environment', 'tags'], ['description', 'long_description'],
  ['links', 'check_params/full_url'],
])
const reportOrigins: FieldOrigins = new Map([
  ['startsAt', 'occurredAt'], ['service', 'service'], ['environment', 'environment'], ['title', 'title'],
  ['description', 'description'], ['fingerprint', 'reference'],
])

/**
 * An Alertmanager notification. A fault confined to some alerts refuses those alerts alone (Alertmanager
 * never retries a 4xx, so refusing the batch would lose the good ones); a fault anywhere else refuses
 * the body.
 */
export function intakeAlertmanager(body: unknown, ctx: IngestContext): AlertmanagerIntake {
  const wide = oversizedMaps(body, '', envelopeMapCaps)
  if (wide.length > 0) return { ok: false, reason: 'schema-invalid', errors: wide }
  const envelope = validateAlertmanagerEnvelope(body)
  if (!envelope.ok) return { ok: false, reason: 'schema-invalid', errors: envelope.errors }
  if (envelope.value.alerts.length > MAX_ALERTS_PER_NOTIFICATION) {
    return { ok: false, reason: 'schema-invalid', errors: [{ path: '/alerts', message: `must NOT have more than ${MAX_ALERTS_PER_NOTIFICATION} items` }] }
  }
  const perAlert = new Map<number, FieldError[]>()
  let listable = MAX_LISTED_ALERT_ERRORS
  envelope.value.alerts.forEach((alert: unknown, index) => {
    const errors = oversizedMaps(alert, `/alerts/${index}`, alertMapCaps)
    if (errors.length > 0) { perAlert.set(index, errors); return }
    const validation = listable > 0 ? validateAlertmanagerAlert(alert) : validateAlertmanagerAlertToFirstError(alert)
    if (validation.ok) return
    listable -= validation.errors.length
    perAlert.set(index, validation.errors.map((e) => ({ path: `/alerts/${index}${e.path === '/' ? '' : e.path}`, message: e.message })))
  })
  // The key as its events carry it, made once: a key of megabytes, hashed again for each of thousands of
  // alerts and dead letters, held the event loop for minutes. The intake's payload carries it, a digest
  // mapping to itself, so that neither the events nor the receiver's dead letters make it again.
  const payload = { ...envelope.value, groupKey: eventGroupKey(envelope.value.groupKey) }
  const accepted: { index: number; event: AlertEvent; value: string }[] = []
  const rejected: ItemRejection[] = []
  payload.alerts.forEach((alert, index) => {
    const schemaErrors = perAlert.get(index)
    if (schemaErrors) { rejected.push({ index, reason: 'schema-invalid', errors: schemaErrors }); return }
    const result = mapAndCheck(() => normalizeAlertmanagerAlert(alert, payload, ctx), ctx, `/alerts/${index}`, alertmanagerOrigins)
    if (result.ok) accepted.push({ index, event: result.event, value: result.value })
    else rejected.push({ index, reason: result.reason, errors: result.errors })
  })
  return { ok: true, payload, accepted, rejected, truncatedAlerts: payload.truncatedAlerts ?? 0 }
}

/** The notification's own maps (its group's labels and annotations): a cap each. */
const envelopeMapCaps = [['groupLabels', MAX_ENVELOPE_MAP_ENTRIES], ['commonLabels', MAX_ENVELOPE_MAP_ENTRIES], ['commonAnnotations', MAX_ENVELOPE_MAP_ENTRIES]] as const
/** An alert's maps: an event's caps. */
const alertMapCaps = [['labels', alertEventCaps.labels], ['annotations', alertEventCaps.annotations]] as const

/**
 * The maps of `value` (the notification, or an alert of it at `base`) that hold more entries than their cap,
 * found before the schema, which lists an error for each entry that fails too: an alert of a million labels
 * made a million errors. Such an alert is refused for that alone, such a notification whole.
 */
function oversizedMaps(value: unknown, base: string, caps: readonly (readonly [string, number])[]): FieldError[] {
  const errors: FieldError[] = []
  for (const [field, max] of caps) {
    const map = (value as Record<string, unknown> | null)?.[field]
    if (map !== null && typeof map === 'object' && !Array.isArray(map) && Object.keys(map).length > max) {
      errors.push({ path: `${base}/${field}`, message: `must NOT have more than ${max} properties` })
    }
  }
  return errors
}

/** A Pingdom state change: one event, refused as a whole. */
export function intakePingdom(body: unknown, ctx: IngestContext): SingleIntake {
  const validation = validatePingdomWebhook(body)
  if (!validation.ok) return { ok: false, reason: 'schema-invalid', errors: validation.errors }
  return mapAndCheck(() => normalizePingdom(validation.value, ctx), ctx, '', () => pingdomOrigins)
}

/** A person's report: one event, refused as a whole. */
export function intakeReport(body: unknown, ctx: IngestContext): SingleIntake {
  const validation = validateReport(body)
  if (!validation.ok) return { ok: false, reason: 'schema-invalid', errors: validation.errors }
  return mapAndCheck(() => normalizeReport(validation.value, ctx), ctx, '', () => reportOrigins)
}

/** The notification fields the mapping reads; a replay keeps these and leaves out the rest. */
const REPLAY_FIELDS = ['version', 'status', 'receiver', 'groupKey', 'externalURL', 'notification_reason'] as const

/**
 * A notification holding only the alert at `index`: what a replay through the receiver posts once the
 * cause of the refusal is fixed. It keeps the fields the mapping reads and no more, so a dead letter per
 * refused alert does not copy the group's common labels each time; `truncatedAlerts` stays behind, or a
 * replay would count the sender's truncation again. A group key too long for an event is kept as the
 * digest the events carry (eventGroupKey), which maps to itself: the replay gives the same events, and
 * no letter copies a key of megabytes.
 */
export function singleAlertWebhook(payload: Readonly<Record<string, unknown>>, index: number): Record<string, unknown> {
  return alertsWebhook(payload, [index])
}

/** The same, holding the alerts at `indexes`: several refused alerts replayed as one notification. */
export function alertsWebhook(payload: Readonly<Record<string, unknown>>, indexes: readonly number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of REPLAY_FIELDS) if (Object.hasOwn(payload, field)) out[field] = payload[field]
  if (typeof out.groupKey === 'string') out.groupKey = eventGroupKey(out.groupKey)
  const alerts = payload.alerts as unknown[]
  out.alerts = indexes.map((i) => alerts[i])
  return out
}

function mapAndCheck(map: () => AlertEvent, ctx: IngestContext, base: string, originsOf: (event: AlertEvent) => FieldOrigins): SingleIntake {
  let event: AlertEvent
  try {
    event = map()
  } catch (err) {
    // Validation should make mapping total; if it is not, the input is refused and kept for replay, not a 500.
    return { ok: false, reason: 'mapping-failed', errors: [{ path: base || '/', message: `could not be mapped: ${(err as Error).message}` }] }
  }
  const checked = checkSerialised(event, ctx)
  if (!checked.ok) {
    const origins = originsOf(event)
    const errors = checked.bytes === undefined ? checked.errors.map((e) => toInputError(e, event, base, origins)) : [oversized(event, checked.bytes, base, origins)]
    return { ok: false, reason: 'event-invalid', errors }
  }
  return { ok: true, event, value: checked.value }
}

/**
 * Everything a canonical event must satisfy before it is acknowledged: alert.v1.json (which the
 * correlator's rekeyer checks again), event times within the bounds around its arrival, and the size
 * cap. Paths are into the event.
 */
export function checkEvent(event: AlertEvent, ctx: IngestContext): FieldError[] {
  const checked = checkSerialised(event, ctx)
  return checked.ok ? [] : checked.errors
}

/** checkEvent, keeping the serialisation the size check made, so that nobody serialises the event again. */
function checkSerialised(event: AlertEvent, ctx: IngestContext): { ok: true; value: string } | { ok: false; errors: FieldError[]; bytes?: number } {
  const validation = validateAlertEvent(event)
  if (!validation.ok) return { ok: false, errors: validation.errors }
  const errors: FieldError[] = []
  const received = ctx.receivedAt.getTime()
  const { maxEventAgeMs, maxClockSkewMs } = ctx.options
  const times: ['startsAt' | 'endsAt', string | undefined][] = [['startsAt', event.startsAt], ['endsAt', event.endsAt]]
  for (const [field, value] of times) {
    if (value === undefined) continue
    const at = Date.parse(value)
    if (at < received - maxEventAgeMs) errors.push({ path: `/${field}`, message: `must not be more than ${duration(maxEventAgeMs)} before the time received (${value})` })
    if (at > received + maxClockSkewMs) errors.push({ path: `/${field}`, message: `must not be more than ${duration(maxClockSkewMs)} after the time received (${value})` })
  }
  if (errors.length > 0) return { ok: false, errors }
  let serialised: string
  try {
    serialised = JSON.stringify(event)
  } catch {
    // Only a nesting too deep for the stack gets here; the HTTP layer refuses such bodies before.
    return { ok: false, errors: [{ path: '/origin', message: 'is nested too deeply to serialise' }] }
  }
  const bytes = Buffer.byteLength(serialised)
  if (bytes > MAX_EVENT_BYTES) return { ok: false, errors: [{ path: '/', message: `the event is ${bytes} bytes serialised, more than ${MAX_EVENT_BYTES}` }], bytes }
  return { ok: true, value: serialised }
}

/**
 * The refusal of an event over the size cap, naming what the sender should cut: the input field that makes
 * most of the event's bytes, and the one entry of it that makes most of those, if one does (one annotation
 * of 60 KB, not the annotations of which it is one). An input entry can make several parts of the event
 * (Alertmanager's `description` annotation: the description, and the annotations kept as sent), so each
 * part counts for the field and entry `origins` gives it.
 */
function oversized(event: AlertEvent, bytes: number, base: string, origins: FieldOrigins): FieldError {
  const byField = new Map<string, number>()
  const byEntry = new Map<string, Map<string, number>>()
  let unmapped = { path: '/', bytes: 0 }
  const addEntry = (field: string, entry: string, size: number) => {
    const entries = byEntry.get(field) ?? new Map<string, number>()
    byEntry.set(field, entries.set(entry, (entries.get(entry) ?? 0) + size))
  }
  const count = (canonicalPath: string, origin: string | undefined, value: unknown) => {
    const size = sizeOf(value)
    if (origin === undefined) {
      if (size > unmapped.bytes) unmapped = { path: canonicalPath, bytes: size }
      return
    }
    const [field, entry] = origin.split('/') as [string, string | undefined]
    byField.set(field, (byField.get(field) ?? 0) + size)
    if (entry !== undefined) addEntry(field, entry, size)
    // The field as the sender gave it (labels, annotations): each of its entries counts for itself too.
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) addEntry(field, k, sizeOf(v))
  }
  for (const [key, value] of Object.entries(event)) {
    if (key === 'origin') for (const [k, v] of Object.entries(event.origin ?? {})) count(`/origin/${escapePointer(k)}`, origins.get(`origin/${k}`), v)
    else if (key === 'links') event.links.forEach((l, i) => count(`/links/${i}`, origins.get(`links:${l.rel}`) ?? origins.get('links'), l))
    else count(`/${escapePointer(key)}`, origins.get(key), value)
  }
  const [field, made] = largest(byField)
  const cap = `the event is ${bytes} bytes serialised, more than ${MAX_EVENT_BYTES}`
  // Only what the whole notification sends (its receiver, its externalURL) outweighs every field of the alert: named in the event.
  if (made < unmapped.bytes) return { path: base || '/', message: `canonical event ${unmapped.path}: ${cap}, ${unmapped.bytes} of them from the notification's ${unmapped.path.split('/').pop()}` }
  const message = `${cap}, ${made} of them from ${field}`
  const [entry, size] = largest(byEntry.get(field) ?? new Map())
  if (size * 2 > made) return { path: `${base}/${field}/${escapePointer(entry)}`, message: `${message} (${size} from ${entry})` }
  return { path: `${base}/${field}`, message }
}

const sizeOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '')

function largest(sizes: ReadonlyMap<string, number>): [string, number] {
  let best: [string, number] = ['', 0]
  for (const [key, size] of sizes) if (size > best[1]) best = [key, size]
  return best
}

/** Names the input field an event check failed on, keeping the event field in the message when they differ. */
function toInputError(e: FieldError, event: AlertEvent, base: string, origins: FieldOrigins): FieldError {
  const [, first = '', ...rest] = e.path.split('/')
  const link = first === 'links' ? event.links[Number(rest[0])] : undefined
  const from = (link && origins.get(`links:${link.rel}`)) ?? origins.get(first)
  if (from === undefined) return { path: base || '/', message: `canonical event ${e.path}: ${e.message}` }
  if (from === first) return { path: `${base}/${[first, ...rest].join('/')}`, message: e.message }
  return { path: `${base}/${from}`, message: `canonical event ${e.path}: ${e.message}` }
}

function duration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute'], [1000, 'second']]
  for (const [size, name] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms === size ? '' : 's'}`
  return `${ms} ms`
}
