import type { AlertmanagerAlert, AlertmanagerWebhook, AlertEvent } from '@opsreview/schemas'
import { eventId, firstLabel, isoTime, labelsFingerprint, normalizeSeverity, type IngestContext } from './event.ts'

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
    events: payload.alerts.map((alert) => toEvent(alert, payload, ctx)),
    truncatedAlerts: payload.truncatedAlerts ?? 0,
  }
}

function hasEnded(endsAt: string | undefined): endsAt is string {
  return !!endsAt && !endsAt.startsWith('0001-01-01')
}

function toEvent(alert: AlertmanagerAlert, payload: AlertmanagerWebhook, ctx: IngestContext): AlertEvent {
  const { options, receivedAt } = ctx
  const labels = { ...alert.labels }
  const annotations = alert.annotations ?? {}
  const fingerprint = alert.fingerprint ?? labelsFingerprint(labels)
  const startsAt = isoTime(alert.startsAt)
  const status = alert.status
  // A resolve without an end time still happened: it happened when we heard of it.
  const endsAt = status === 'resolved' ? isoTime(hasEnded(alert.endsAt) ? alert.endsAt : receivedAt) : undefined
  const links: AlertEvent['links'] = []
  if (alert.generatorURL) links.push({ rel: 'generator', href: alert.generatorURL })
  if (annotations.runbook_url) links.push({ rel: 'runbook', href: annotations.runbook_url })
  if (annotations.dashboard_url) links.push({ rel: 'dashboard', href: annotations.dashboard_url })

  const origin: Record<string, unknown> = { receiver: payload.receiver, groupKey: payload.groupKey }
  if (payload.externalURL) origin.externalURL = payload.externalURL
  if (typeof payload.notification_reason === 'string') origin.notificationReason = payload.notification_reason
  if (Object.keys(annotations).length > 0) origin.annotations = annotations

  const event: AlertEvent = {
    id: eventId('alertmanager', fingerprint, status, endsAt ?? startsAt),
    source: 'alertmanager',
    fingerprint,
    status,
    severity: normalizeSeverity(labels.severity),
    service: firstLabel(labels, options.serviceLabels) ?? labels.alertname,
    environment: firstLabel(labels, options.environmentLabels) ?? options.defaultEnvironment,
    title: annotations.summary || annotations.title || labels.alertname,
    labels,
    startsAt,
    receivedAt: isoTime(receivedAt),
    links,
    origin,
  }
  const description = annotations.description || annotations.message
  if (description) event.description = description
  if (endsAt) event.endsAt = endsAt
  return event
}
