// Reports filed from the dashboard (customer and internal complaints, issues found by hand, capacity
// forecasts) are handed to the receiver, which answers only once its spool or Kafka holds the event: the
// review acknowledges a report exactly when the receiver does, and never makes the canonical event itself.
import { validateReport, type Report } from '@opsreview/schemas'
import type { FieldError } from '@opsreview/schemas'

/** Where the review files reports: the receiver's base URL and an ingest token it accepts. */
export interface ReportTarget {
  url: string
  token: string
  /** How long the receiver may take to answer. */
  timeoutMs: number
}

/**
 * The report as it will be filed: with a named token, the token's name is the reporter (`reportedBy` may
 * be left out, and one that differs is refused); without one, the body says who reports, as at the receiver.
 */
export function reportOf(body: unknown, tokenName: string | undefined): { ok: true; value: Report } | { ok: false; errors: FieldError[] } {
  let candidate = body
  if (tokenName !== undefined && body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const given = (body as Record<string, unknown>).reportedBy
    if (given !== undefined && given !== tokenName) return { ok: false, errors: [{ path: '/reportedBy', message: `must be left out or be ${tokenName}, the name of your token` }] }
    candidate = { ...body, reportedBy: tokenName }
  }
  const v = validateReport(candidate)
  return v.ok ? { ok: true, value: v.value } : { ok: false, errors: v.errors }
}

export type ReportOutcome =
  /** The receiver holds it: its answer (`{accepted, ids}`). */
  | { kind: 'accepted'; status: number; body: unknown }
  /** The receiver refused the report itself (a 4xx naming fields, or a 413): the filer's to fix. */
  | { kind: 'refused'; status: number; errors: FieldError[]; detail: string }
  /** The receiver is down, overloaded or slow: retry. */
  | { kind: 'unavailable'; detail: string }
  /** The receiver refused the review's own token, or answered a 4xx that names no field of the report: a deployment fault, not the filer's. */
  | { kind: 'misconfigured'; detail: string }

/**
 * The receiver's reports route under its configured URL, base path kept: a receiver behind a gateway at
 * `https://gw/receiver/` is `https://gw/receiver/api/v1/reports`, not `https://gw/api/v1/reports`, where the
 * ingest token went to whatever answers there (until 2026-12-05), as `dead-letters replay` already keeps it.
 */
export function reportsUrl(base: string | URL): URL {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/$/, '')}/api/v1/reports`
  return url
}

/** Files the report with the receiver (`POST /api/v1/reports`). The token is sent, never returned or logged. */
export async function fileReport(target: ReportTarget, report: Report, fetchImpl: typeof fetch = fetch): Promise<ReportOutcome> {
  let res: Response
  try {
    res = await fetchImpl(reportsUrl(target.url), {
      method: 'POST', body: JSON.stringify(report), signal: AbortSignal.timeout(target.timeoutMs),
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
    })
  } catch (err) {
    return { kind: 'unavailable', detail: `the receiver did not answer: ${(err as Error).name}` }
  }
  const body: unknown = await res.json().catch(() => undefined)
  if (res.ok) return { kind: 'accepted', status: res.status, body }
  if (res.status === 429 || res.status >= 500) return { kind: 'unavailable', detail: `the receiver answered ${res.status}` }
  if (res.status === 401 || res.status === 403) return { kind: 'misconfigured', detail: `the receiver refused the review's token (${res.status})` }
  const problem = (body ?? {}) as { detail?: unknown; errors?: unknown }
  const errors = Array.isArray(problem.errors) ? (problem.errors as FieldError[]).filter((e) => typeof e?.path === 'string' && typeof e.message === 'string') : []
  const said = typeof problem.detail === 'string' ? problem.detail : undefined
  // Only a refusal that names the report's fields, or its size, is the filer's to fix. Any other answer (a
  // 404 or 405 of a wrong OPSREVIEW_RECEIVER_URL, a proxy's error page) says nothing about the report: told
  // to the filer as a 400, it left them nothing to change.
  if (errors.length === 0 && res.status !== 413) return { kind: 'misconfigured', detail: `the receiver answered ${res.status} without naming a field${said === undefined ? '' : `: ${said}`}` }
  return { kind: 'refused', status: res.status, errors, detail: said ?? `the receiver answered ${res.status}` }
}
