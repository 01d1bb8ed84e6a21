import { withinCodePoints, type AlertEvent, type PingdomWebhook } from '@opsreview/schemas'
import { isUsableName, MAX_ENVIRONMENT_CHARS, MAX_SERVICE_CHARS } from '@opsreview/grouping'
import { eventId, isoTime, truncateText, type IngestContext } from './event.ts'
import { MAX_DESCRIPTION_CHARS, MAX_EVENT_BYTES, MAX_LINK_CHARS, MAX_TITLE_CHARS } from './limits.ts'

const firingStates = new Set(['DOWN', 'FAILING'])

/**
 * The value of the first tag with one of the prefixes; a blank value (`service:  `) is no value, as in the
 * review's filters. The schema already refused a tag holding a control character; the check is the one
 * an Alertmanager label's value goes through, so both senders name services by one rule.
 */
function tagValue(tags: readonly string[], prefixes: readonly string[], maxChars: number): string | undefined {
  for (const prefix of prefixes) {
    const tag = tags.find((t) => t.startsWith(prefix) && isUsableName(t.slice(prefix.length), maxChars))
    if (tag) return tag.slice(prefix.length)
  }
  return undefined
}

/**
 * A Pingdom state change, for any check type. Pingdom does not say when a check went down in its UP
 * message, so a resolve's startsAt is its own time; the correlator pairs it with the DOWN by fingerprint.
 */
export function normalizePingdom(payload: PingdomWebhook, ctx: IngestContext): AlertEvent {
  const { options, receivedAt } = ctx
  const tags = payload.tags ?? []
  const status = firingStates.has(payload.current_state) ? 'firing' : 'resolved'
  const at = isoTime(payload.state_changed_timestamp * 1000)
  // Uptime and transaction checks are numbered apart (Pingdom's /checks and /tms/check): one number can be
  // both, and a transaction's SUCCESS must not resolve the uptime check's DOWN.
  const fingerprint = payload.check_type === 'TRANSACTION' ? `transaction-${payload.check_id}` : `check-${payload.check_id}`
  const params = payload.check_params ?? {}
  const hostname = typeof params.hostname === 'string' ? params.hostname : undefined
  const fullUrl = typeof params.full_url === 'string' ? params.full_url : undefined

  const labels: Record<string, string> = {
    alertname: payload.check_name,
    check_id: String(payload.check_id),
    check_type: payload.check_type,
  }
  if (hostname) labels.host = hostname
  if (tags.length > 0) labels.tags = tags.join(',')

  const origin: Record<string, unknown> = {
    check_id: payload.check_id,
    check_name: payload.check_name,
    check_type: payload.check_type,
    current_state: payload.current_state,
  }
  if (payload.previous_state) origin.previous_state = payload.previous_state
  if (payload.importance_level) origin.importance_level = payload.importance_level
  // Texts of any length are taken, cut to the event's text cap: Pingdom does not retry a refused webhook.
  for (const field of ['description', 'long_description', 'custom_message'] as const) {
    const text = payload[field]
    if (text) origin[field] = truncateText(text, MAX_DESCRIPTION_CHARS)
  }
  // A URL longer than an event's link is left out, and named: Pingdom does not retry a refused message, and
  // the alert is news, its link a convenience (until 2026-12-06 the whole message was refused, and lost).
  const linkable = fullUrl !== undefined && withinCodePoints(fullUrl, MAX_LINK_CHARS)
  if (fullUrl && !linkable) origin.linksLeftOut = ['target']
  if (payload.first_probe) origin.first_probe = payload.first_probe
  if (payload.second_probe) origin.second_probe = payload.second_probe

  const event: AlertEvent = {
    id: eventId('pingdom', fingerprint, status, at),
    source: 'pingdom',
    fingerprint,
    status,
    severity: payload.importance_level === 'LOW' ? 'warning' : 'critical',
    service: tagValue(tags, options.pingdomServiceTagPrefixes, MAX_SERVICE_CHARS) ?? payload.check_name,
    environment: tagValue(tags, options.pingdomEnvironmentTagPrefixes, MAX_ENVIRONMENT_CHARS) ?? options.grouping.environment.default,
    title: truncateText(`${payload.check_name} is ${payload.current_state}${payload.description ? `: ${payload.description}` : ''}`, MAX_TITLE_CHARS),
    labels,
    startsAt: at,
    receivedAt: isoTime(receivedAt),
    links: fullUrl && linkable ? [{ rel: 'target', href: fullUrl }] : [],
    origin,
  }
  // Pingdom sends "" for a text it has not: an empty long description is none.
  const description = [payload.long_description || payload.description, payload.custom_message].filter(Boolean).join('\n\n')
  if (description) event.description = truncateText(description, MAX_DESCRIPTION_CHARS)
  if (status === 'resolved') event.endsAt = at
  return withinEventCap(event)
}

/** What `origin` keeps of the message only as it came: the description holds the texts' substance. */
const ORIGINALS = ['description', 'long_description', 'custom_message', 'first_probe', 'second_probe'] as const

/**
 * The event cut to fit the intake's cap on a serialised event (`MAX_EVENT_BYTES`): Pingdom does not retry a
 * refused webhook, so its texts are cut, never refused. Each text is within its cap in characters, but the
 * description and the three texts it is made of, in `origin`, all long (or a probe with a long value) made an
 * event over the cap in bytes, refused with a 400 at `/` until 2026-12-05. The originals go first, marked in
 * `origin.cut`, then the description is halved until the event fits. Pingdom sends a state change at a time:
 * serialising one twice costs nothing that matters.
 */
function withinEventCap(event: AlertEvent): AlertEvent {
  if (Buffer.byteLength(JSON.stringify(event)) <= MAX_EVENT_BYTES) return event
  const origin = { ...event.origin }
  const cut = ORIGINALS.filter((field) => field in origin)
  for (const field of cut) delete origin[field]
  let fitted: AlertEvent = { ...event, origin: { ...origin, cut } }
  for (let chars = MAX_DESCRIPTION_CHARS >> 1; fitted.description && chars > 0 && Buffer.byteLength(JSON.stringify(fitted)) > MAX_EVENT_BYTES; chars >>= 1) {
    fitted = { ...fitted, description: truncateText(fitted.description, chars) }
  }
  return fitted
}
