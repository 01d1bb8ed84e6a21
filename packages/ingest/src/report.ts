import type { AlertEvent, Report } from '@opsreview/schemas'
import { eventId, isoTime, stableHash, type IngestContext } from './event.ts'

/**
 * A person's report becomes a firing event with source `report`. Its fingerprint is the filer's
 * reference when given, so filing the same ticket twice is one report; otherwise it is the report itself.
 */
export function normalizeReport(report: Report, ctx: IngestContext): AlertEvent {
  const { options, receivedAt } = ctx
  const environment = report.environment ?? options.grouping.environment.default
  const occurredAt = isoTime(report.occurredAt ?? receivedAt)
  const fingerprint = report.reference
    ? stableHash([report.kind, report.service, environment, report.reference])
    : stableHash([report.kind, report.service, environment, report.title, report.reportedBy, occurredAt])
  const origin: Record<string, unknown> = { kind: report.kind, reportedBy: report.reportedBy }
  if (report.reference) origin.reference = report.reference
  const event: AlertEvent = {
    id: eventId('report', fingerprint, 'firing', occurredAt),
    source: 'report',
    fingerprint,
    status: 'firing',
    severity: report.severity,
    service: report.service,
    environment,
    title: report.title,
    labels: { alertname: `report:${report.kind}`, report_kind: report.kind, reported_by: report.reportedBy },
    startsAt: occurredAt,
    receivedAt: isoTime(receivedAt),
    links: [],
    origin,
  }
  if (report.description) event.description = report.description
  return event
}
