import { field, type ConfigOf } from '@opsreview/config'
import type { ScopeFilter } from './scope.ts'

/**
 * Response times per service, read from Prometheus: the morning review reports service quality, and the
 * alerts opsreview keeps carry none (a Pingdom check says up or down, not how fast).
 */

export const RANGE_PLACEHOLDER = '$range'
/** In the query, the review's environments as one regular expression, for a label matcher `env=~"$environments"`. */
export const ENVIRONMENTS_PLACEHOLDER = '$environments'

export const defaultResponseTimeQuery = 'histogram_quantile(0.95, sum by (service, le) (increase(http_request_duration_seconds_bucket[$range])))'

/** Where and what the review asks Prometheus (`responseTimeSourceOf`). */
export interface ResponseTimeSource {
  /** Prometheus's base URL, as the UI is reached (a path prefix is kept). */
  url: string
  /**
   * PromQL giving one series per `service` label, in seconds, `$range` standing for the measured part of the
   * window and `$environments` (optional) for the review's environments.
   */
  query: string
  /** What the figure is called (`p95`). */
  name: string
  timeoutMs: number
}

/** A service's figure: null when it had no requests in the window (Prometheus answers NaN). */
export interface ResponseTime { service: string; ms: number | null }

export type ResponseTimes =
  | { status: 'ok'; name: string; items: ResponseTime[] }
  /** Prometheus down, slow, or answering something else than a vector: the review goes on without it. */
  | { status: 'unavailable'; name: string; error: string }
  | { status: 'not-configured' }

export const notConfigured: ResponseTimes = Object.freeze({ status: 'not-configured' })

/**
 * The longest OPSREVIEW_RESPONSE_TIME_TIMEOUT. The review's socket is closed after 30 s without a byte (its
 * idle timeout, services/review/src/timeouts.ts): a review waiting longer for a silent Prometheus reached its
 * client as a dropped connection, not as the review with the response times unavailable.
 */
export const RESPONSE_TIME_TIMEOUT_MAX_MS = 20_000

export const responseTimeSpec = {
  OPSREVIEW_PROMETHEUS_URL: field.custom<string | null>('Prometheus the review reads response times from (its base URL); empty: no response times', null, (raw) => {
    const u = URL.canParse(raw) ? new URL(raw) : null
    // Not quoted: a URL may carry basic-auth credentials.
    // The API's path is added to it: a query or fragment would end up before that path.
    return u && (u.protocol === 'https:' || u.protocol === 'http:') && u.search === '' && u.hash === '' ? { ok: true, value: raw } : { ok: false, error: 'must be an http(s) URL without a query or fragment (not shown: it may hold credentials)' }
  }),
  OPSREVIEW_RESPONSE_TIME_QUERY: field.custom<string>(`PromQL of the response time per service label, in seconds; ${RANGE_PLACEHOLDER} is replaced by the measured window (86400s), ${ENVIRONMENTS_PLACEHOLDER} (optional, inside double quotes) by a regular expression of the review's environments`, defaultResponseTimeQuery, (raw) => {
    const faults = placeholderFaults(raw)
    return faults.length === 0 ? { ok: true, value: raw } : { ok: false, error: `${faults.join('; ')}, got ${JSON.stringify(raw)}` }
  }),
  OPSREVIEW_RESPONSE_TIME_NAME: field.string('what the response time is called on the page and in review.md', 'p95'),
  OPSREVIEW_RESPONSE_TIME_TIMEOUT: field.timer('how long the review waits for Prometheus before saying it did not answer, at most 20s', 5_000, { min: 1, max: RESPONSE_TIME_TIMEOUT_MAX_MS }),
}

/**
 * What is wrong with the query's `$name`s, read as PromQL's lexer reads them: `$range` must be there, outside
 * comments (a text search found it in one, and in `$ranges`). Only two are replaced; any other went to Prometheus as written, and a
 * misspelt `$environment` in a matcher matched nothing: the review showed an empty table, not a fault. A `$name`
 * stays allowed where the query has a group of that name, for a label_replace template (`"$svc"`, `(?P<svc>…)`).
 * `$environments` is escaped as the inside of a string in double quotes: in single quotes Prometheus refuses
 * its `\"`, in backquotes `\\.` is two characters, and outside a string it is no PromQL at all.
 */
function placeholderFaults(query: string): string[] {
  const groups = new Set([...query.matchAll(/\(\?P?<(\w+)>/g)].map((m) => m[1]))
  const unknown = new Set<string>()
  /** Faults of `$1x`: to a label_replace template the group named 1x, where group 1 and then x was meant. */
  const runOn = new Set<string>()
  let hasRange = false
  let outsideDoubleQuotes = false
  let quote = ''
  for (let i = 0; i < query.length; i++) {
    const c = query[i]!
    if (quote !== '' && quote !== '`' && c === '\\') i++
    // A comment, to the end of the line: PromQL's lexer skips it whole, quotes and `$`s with it.
    else if (quote === '' && c === '#') { const end = query.slice(i).search(/[\r\n]/); i = end === -1 ? query.length : i + end }
    else if (quote === '' && (c === '"' || c === "'" || c === '`')) quote = c
    else if (c === quote) quote = ''
    // `$$` is a label_replace template's `$`: what follows is no name.
    else if (c === '$' && query[i + 1] === '$') i++
    else if (c === '$') {
      // A name runs to the last letter, digit or _: `$1x` is a group named 1x (empty unless the query has one), not group 1 and then x.
      const [, group, rest] = /^(\d+)([A-Za-z_]\w*)/.exec(query.slice(i + 1)) ?? []
      if (group !== undefined && !groups.has(group + rest)) {
        runOn.add(`$${group}${rest} is the group named ${group}${rest} to a label_replace template, not group ${group} followed by ${rest}: write \${${group}}${rest} there; a $ meant as itself is written \\x24`)
      }
      const [, brace, name] = /^(\{?)([A-Za-z_]\w*)/.exec(query.slice(i + 1)) ?? []
      if (name === undefined) continue
      // Unbraced, these two are replaced whatever groups the query has; braced, no name is (`${environments}`
      // went to Prometheus as it was, a regular expression matching nothing).
      if (brace === '' && name === 'range') hasRange = true
      else if (brace === '' && name === 'environments') outsideDoubleQuotes ||= quote !== '"'
      else if (!groups.has(name)) unknown.add(brace === '' ? `$${name}` : `\${${name}}`)
    }
  }
  return [
    ...(hasRange ? [] : [`must contain ${RANGE_PLACEHOLDER}, the window the figure is over`]),
    ...[...unknown].map((p) => `unknown placeholder ${p} (opsreview replaces ${RANGE_PLACEHOLDER} and ${ENVIRONMENTS_PLACEHOLDER}; a label_replace template may name a group (?P<name>…) of the query; a $ meant as itself is written \\x24)`),
    ...runOn,
    ...(outsideDoubleQuotes ? [`${ENVIRONMENTS_PLACEHOLDER} must be inside double quotes, as in {env=~"${ENVIRONMENTS_PLACEHOLDER}"}`] : []),
  ]
}

/** The source the configuration names, or undefined when OPSREVIEW_PROMETHEUS_URL is unset. */
export const responseTimeSourceOf = (c: ConfigOf<typeof responseTimeSpec>): ResponseTimeSource | undefined =>
  (c.OPSREVIEW_PROMETHEUS_URL === null ? undefined : { url: c.OPSREVIEW_PROMETHEUS_URL, query: c.OPSREVIEW_RESPONSE_TIME_QUERY, name: c.OPSREVIEW_RESPONSE_TIME_NAME, timeoutMs: c.OPSREVIEW_RESPONSE_TIME_TIMEOUT })

/**
 * The environments as a regular expression matching exactly them, written as the inside of a PromQL string in
 * double quotes; `.*` for every environment (null or none). Each name is escaped, for RE2 and then for the
 * string: an environment `eu.prod` must not match `eu-prod`, nor a quote end the string. The names are one
 * group: in a query writing more around it (`eu-$environments`), a bare `eu-prod|staging` would match staging.
 */
export function environmentsPattern(environments: readonly string[] | null): string {
  if (environments === null || environments.length === 0) return '.*'
  const pattern = `(?:${environments.map((e) => e.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')).join('|')})`
  return pattern.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')
}

/**
 * The instant query over [from, until) of the environments (null: all): `$range` the whole seconds between
 * them, evaluated at `until`, `$environments` their `environmentsPattern`. Whole seconds: Prometheus takes a
 * fraction (`1.5s`) for no duration. One pass, by a function: a name holding `$range` or `$&` stays as it is.
 */
export function responseTimeQueryUrl(source: Pick<ResponseTimeSource, 'url' | 'query'>, from: number, until: number, environments: readonly string[] | null = null): string {
  const values: Record<string, string> = { [RANGE_PLACEHOLDER]: `${Math.floor((until - from) / 1000)}s`, [ENVIRONMENTS_PLACEHOLDER]: environmentsPattern(environments) }
  const query = source.query.replace(/\$(?:range|environments)/g, (placeholder) => values[placeholder]!)
  const params = new URLSearchParams({ query, time: String(until / 1000) })
  // Without the user and password: fetch refuses a URL holding them, and its error quotes the URL whole,
  // password and all, into the review's answer. They go in a header instead (`basicAuthorization`).
  const base = new URL(source.url)
  base.username = ''
  base.password = ''
  return `${base.href.replace(/\/+$/, '')}/api/v1/query?${params}`
}

/** The `authorization` header of a URL's `user:password@` (Prometheus's basic_auth_users, or a proxy's), none without. */
export function basicAuthorization(url: string): Record<string, string> {
  const u = new URL(url)
  if (u.username === '' && u.password === '') return {}
  const decoded = (s: string) => { try { return decodeURIComponent(s) } catch { return s } }
  return { authorization: `Basic ${Buffer.from(`${decoded(u.username)}:${decoded(u.password)}`).toString('base64')}` }
}

/**
 * A sample in seconds as milliseconds to the tenth: a p95 of 12.34 ms reads as 12.3 ms. NaN and ±Inf (a histogram
 * with no request in the window) are null; undefined is no duration at all (negative, not a number), which a query
 * measuring something else gives, and which as null would read as "no requests".
 */
export function secondsToMs(value: string): number | null | undefined {
  if (value === 'NaN' || value === '+Inf' || value === '-Inf') return null
  const s = Number(value)
  return value.trim() !== '' && Number.isFinite(s) && s >= 0 ? Math.round(s * 10_000) / 10 : undefined
}

type Parsed = { ok: true; items: ResponseTime[] } | { ok: false; error: string }

/**
 * The rows of a `/api/v1/query` answer: one per `service` label, by name, only `services` when a scope names
 * them. A series without the label is not a service's and is left out. A service with several series (a query
 * that keeps another label) shows its highest: the review looks for the slow ones.
 */
export function parseResponseTimes(body: unknown, services: readonly string[] | null): Parsed {
  const b = body as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } } | null
  if (typeof b !== 'object' || b === null) return { ok: false, error: 'the answer is not a Prometheus API answer' }
  if (b.status !== 'success') return { ok: false, error: typeof b.error === 'string' ? b.error : 'the answer is not a success' }
  if (b.data?.resultType !== 'vector' || !Array.isArray(b.data.result)) return { ok: false, error: `the query gives ${String(b.data?.resultType)}, not an instant vector` }
  const wanted = services === null ? null : new Set(services)
  const byService = new Map<string, number | null>()
  for (const series of b.data.result as ({ metric?: Record<string, unknown>; value?: unknown } | null)[]) {
    // Thrown, a null's TypeError reached the meeting as "Cannot read properties of null (reading 'metric')".
    if (typeof series !== 'object' || series === null) return { ok: false, error: 'a series is not an object' }
    const service = series.metric?.service
    if (typeof service !== 'string' || service === '' || (wanted && !wanted.has(service))) continue
    if (!Array.isArray(series.value) || typeof series.value[1] !== 'string') return { ok: false, error: 'a series has no [time, "value"] pair' }
    const ms = secondsToMs(series.value[1])
    if (ms === undefined) return { ok: false, error: `the query gives ${service} ${JSON.stringify(series.value[1])}, not a duration in seconds` }
    const before = byService.get(service)
    byService.set(service, before === undefined || before === null ? ms : ms === null ? before : Math.max(before, ms))
  }
  // By name, in code-unit order: sort's own for strings.
  return { ok: true, items: [...byService.keys()].sort().map((service) => ({ service, ms: byService.get(service) ?? null })) }
}

/**
 * The largest answer read. One row per service is a few hundred bytes; past this the query keeps labels
 * it should sum away, or the URL is not Prometheus's, and the whole of it was held in memory and parsed
 * while the review's other requests waited.
 */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024

/** The body as text, or undefined once it is past `max` bytes (the rest is not read). */
async function textUpTo(res: Response, max: number): Promise<string | undefined> {
  if (Number(res.headers.get('content-length')) > max) { await res.body?.cancel(); return undefined }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength
    // Leaving the loop cancels the stream.
    if (size > max) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Why a request failed, in words for the meeting: the cause's (ECONNREFUSED) rather than fetch's "fetch failed". */
function failure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined
  return cause ?? (err instanceof Error ? err.message : String(err))
}

/**
 * The response times over the measured part of the window [from, until) in the scope (everything when absent):
 * not asked when it is under a second. A Prometheus that fails is said in the answer, never thrown: the rest of
 * the review is still wanted.
 */
export async function readResponseTimes(source: ResponseTimeSource | undefined, from: number, until: number, scope?: ScopeFilter): Promise<ResponseTimes> {
  if (!source) return notConfigured
  // Under a second there is no range to ask for: `$range` in whole seconds is 0s, which Prometheus refuses
  // ("duration must be greater than 0"), and the meeting was told Prometheus did not answer.
  if (until - from < 1000) return { status: 'ok', name: source.name, items: [] }
  const unavailable = (error: string): ResponseTimes => ({ status: 'unavailable', name: source.name, error })
  try {
    const res = await fetch(responseTimeQueryUrl(source, from, until, scope?.environments ?? null), { headers: { accept: 'application/json', ...basicAuthorization(source.url) }, signal: AbortSignal.timeout(source.timeoutMs) })
    const text = await textUpTo(res, MAX_ANSWER_BYTES)
    if (text === undefined) return unavailable(`HTTP ${res.status}, an answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`)
    let body: unknown
    try { body = JSON.parse(text) } catch { return unavailable(`HTTP ${res.status}, not JSON`) }
    const parsed = parseResponseTimes(body, scope?.services ?? null)
    if (!parsed.ok) return unavailable(res.ok ? parsed.error : `HTTP ${res.status}: ${parsed.error}`)
    return res.ok ? { status: 'ok', name: source.name, items: parsed.items } : unavailable(`HTTP ${res.status}`)
  } catch (err) {
    return unavailable(failure(err, source.timeoutMs))
  }
}
