import { hash } from 'node:crypto'
import { withinCodePoints, type AlertmanagerAlert, type AlertmanagerWebhook, type AlertEvent } from '@opsreview/schemas'
import { environmentOf, serviceFromAlertname, serviceOf } from '@opsreview/grouping'
import { eventId, isoTime, labelsFingerprint, normalizeSeverity, own, truncateText, type IngestContext } from './event.ts'
import { MAX_DESCRIPTION_CHARS, MAX_GROUP_KEY_CHARS, MAX_LINK_CHARS, MAX_TITLE_CHARS } from './limits.ts'

/** Alertmanager's Go zero time: an alert that has not ended, not a date. */
export const ZERO_TIME = '0001-01-01T00:00:00Z'

export interface AlertmanagerBatch {
  events: AlertEvent[]
  /** Alerts the sender dropped because of its max_alerts setting: they never reach us. */
  truncatedAlerts: number
}

/** One event per alert, each with its own status: a group's status says nothing about its members. */
export function normalizeAlertmanager(payload: AlertmanagerWebhook, ctx: IngestContext): AlertmanagerBatch {
  return {
    events: payload.alerts.map((alert) => normalizeAlertmanagerAlert(alert, payload, ctx)),
    truncatedAlerts: payload.truncatedAlerts ?? 0,
  }
}

function hasEnded(endsAt: string | undefined): endsAt is string {
  return !!endsAt && !endsAt.startsWith('0001-01-01')
}

type Texts = Readonly<Record<string, string>>

/** Where an alert's title comes from: its `summary` annotation, else its `title` annotation, else its `alertname` label. */
export function titleOrigin(annotations: Texts): 'annotations/summary' | 'annotations/title' | 'labels/alertname' {
  return own(annotations, 'summary') ? 'annotations/summary' : own(annotations, 'title') ? 'annotations/title' : 'labels/alertname'
}

/** Where an alert's description comes from: its `description` annotation, else its `message` annotation; none without either. */
export function descriptionOrigin(annotations: Texts): 'annotations/description' | 'annotations/message' | undefined {
  return own(annotations, 'description') ? 'annotations/description' : own(annotations, 'message') ? 'annotations/message' : undefined
}

/**
 * A notification's group key as its events carry it: as sent up to MAX_GROUP_KEY_CHARS, else
 * `sha256:<64 hex digits>` of the whole key. The correlator keeps a notification's alerts together by this
 * key, so a long one is replaced by something as distinct, never cut: two groups whose keys share their
 * first characters (`group_by: ['...']` puts every label in the key) would be one. A digest is short, so a
 * replay that sends it as the key maps to the same key again.
 */
export function eventGroupKey(groupKey: string): string {
  // No more UTF-16 units than the bound: no more code points either.
  if (groupKey.length <= MAX_GROUP_KEY_CHARS) return groupKey
  return withinCodePoints(groupKey, MAX_GROUP_KEY_CHARS) ? groupKey : `sha256:${hash('sha256', groupKey)}`
}

/** The text at a path `titleOrigin` or `descriptionOrigin` gave. */
function textAt(origin: string, annotations: Texts, labels: Texts): string {
  const [field, key] = origin.split('/') as [string, string]
  return own(field === 'labels' ? labels : annotations, key) ?? ''
}

/** One alert of a notification as a canonical event; `payload` gives the group's facts (receiver, groupKey). */
export function normalizeAlertmanagerAlert(alert: AlertmanagerAlert, payload: AlertmanagerWebhook, ctx: IngestContext): AlertEvent {
  const { options, receivedAt } = ctx
  const labels = { ...alert.labels }
  const annotations = alert.annotations ?? {}
  const fingerprint = alert.fingerprint ?? labelsFingerprint(labels)
  const startsAt = isoTime(alert.startsAt)
  const status = alert.status
  const givenEnd = alert.endsAt
  const ended = hasEnded(givenEnd)
  // A resolve without an end time still happened: it happened when we heard of it.
  const endsAt = status === 'resolved' ? isoTime(ended ? givenEnd : receivedAt) : undefined
  // The id is made of what the sender sent, never of the receipt, or each redelivery (a retry after a 503)
  // would be a new event: a resolve without an end time is the end of the firing that started at
  // startsAt, marked apart from a resolve that ended at that time.
  const id = status === 'resolved' && !ended
    ? eventId('alertmanager', fingerprint, 'resolved-without-end', startsAt)
    : eventId('alertmanager', fingerprint, status, endsAt ?? startsAt)
  const links: AlertEvent['links'] = []
  // A link longer than the event takes is left out, and named in the origin: the alert is news, its link a
  // convenience (a runbook or dashboard URL stays in the annotations kept as sent), and Alertmanager never
  // retries a refused alert.
  const linksLeftOut: string[] = []
  const link = (rel: string, href: string | undefined) => {
    if (!href) return
    if (withinCodePoints(href, MAX_LINK_CHARS)) links.push({ rel, href })
    else linksLeftOut.push(rel)
  }
  link('generator', alert.generatorURL)
  link('runbook', own(annotations, 'runbook_url'))
  link('dashboard', own(annotations, 'dashboard_url'))

  const origin: Record<string, unknown> = { receiver: payload.receiver, groupKey: eventGroupKey(payload.groupKey) }
  if (linksLeftOut.length > 0) origin.linksLeftOut = linksLeftOut
  if (payload.externalURL) origin.externalURL = payload.externalURL
  if (typeof payload.notification_reason === 'string') origin.notificationReason = payload.notification_reason
  if (Object.keys(annotations).length > 0) origin.annotations = annotations

  const event: AlertEvent = {
    id,
    source: 'alertmanager',
    fingerprint,
    status,
    severity: normalizeSeverity(own(labels, 'severity')),
    // The same rules give the same answer in the what-if replay (@opsreview/grouping relabel).
    service: serviceOf(labels, options.grouping) ?? serviceFromAlertname(labels.alertname),
    environment: environmentOf(labels, options.grouping),
    title: truncateText(textAt(titleOrigin(annotations), annotations, labels), MAX_TITLE_CHARS),
    labels,
    startsAt,
    receivedAt: isoTime(receivedAt),
    links,
    origin,
  }
  const describedBy = descriptionOrigin(annotations)
  if (describedBy) event.description = truncateText(textAt(describedBy, annotations, labels), MAX_DESCRIPTION_CHARS)
  if (endsAt) event.endsAt = endsAt
  return event
}
