import type { ErrorRequestHandler, Response } from 'express'
import type { FieldError } from '@opsreview/schemas'
// `req.log` is declared on Express's Request there: a program holding this file alone (a service's own
// tsconfig) must see that declaration too.
import type {} from './request-context.ts'

/**
 * The catalogue of HTTP-facing errors. Each code has one status; 4xx means the same request will never
 * succeed (Alertmanager never retries a 4xx), 5xx means try again.
 */
export const problems = {
  UNAUTHORIZED: { status: 401, title: 'Missing or invalid token' },
  FORBIDDEN: { status: 403, title: 'Token not allowed here' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Content-Type must be application/json' },
  PRECONDITION_FAILED: { status: 412, title: 'Precondition failed' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request line and headers too large' },
  INVALID_JSON: { status: 400, title: 'Request body is not valid JSON' },
  VALIDATION_FAILED: { status: 400, title: 'Request body does not match the schema' },
  ALERTS_REFUSED: { status: 422, title: 'No alert of the notification could be accepted' },
  INVALID_QUERY: { status: 400, title: 'Invalid query parameter' },
  BAD_REQUEST: { status: 400, title: 'Malformed request' },
  UNAVAILABLE: { status: 503, title: 'Temporarily unavailable, retry later' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const

export type ProblemCode = keyof typeof problems

/** An RFC 9457 problem, thrown or passed to `next()` and rendered by `problemHandler`. */
export class HttpProblem extends Error {
  readonly code: ProblemCode
  readonly status: number
  readonly errors: FieldError[] | undefined
  /** Failing fields left out of a list cut at its limit. */
  readonly errorsOmitted: number | undefined
  readonly retryAfterSeconds: number | undefined

  constructor(code: ProblemCode, detail?: string, extra: { errors?: FieldError[]; errorsOmitted?: number; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(detail ?? problems[code].title, { cause: extra.cause })
    this.name = 'HttpProblem'
    this.code = code
    this.status = problems[code].status
    this.errors = extra.errors
    this.errorsOmitted = extra.errorsOmitted
    this.retryAfterSeconds = extra.retryAfterSeconds
  }
}

/**
 * `extensions`: members beyond RFC 9457's (a refused notification's `rejected` list), after them; one
 * named like a standard member does not replace it.
 */
export function sendProblem(res: Response, problem: HttpProblem, extensions: Record<string, unknown> = {}): void {
  if (problem.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(problem.retryAfterSeconds))
  if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="opsreview"')
  const body = problemBody(problem)
  for (const [name, value] of Object.entries(extensions)) if (!(name in body)) body[name] = value
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(body))
}

/** A problem's RFC 9457 members. */
export function problemBody(problem: HttpProblem): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: `https://opsreview.dev/problems/${problem.code.toLowerCase().replaceAll('_', '-')}`,
    title: problems[problem.code].title,
    status: problem.status,
    code: problem.code,
    detail: problem.message,
  }
  if (problem.errors) body.errors = problem.errors
  if (problem.errorsOmitted !== undefined) body.errorsOmitted = problem.errorsOmitted
  return body
}

/**
 * Express and its body parsers mark the client's mistakes with a 4xx `status`: the router's bad %-escape
 * in a path parameter (a URIError) and body-parser's http-errors (`expose: true`), such as a corrupt
 * compressed body. Only those count: a client library's error can carry a 4xx too (Elasticsearch's 429
 * means overloaded, not a bad request), and must stay a server-side failure.
 */
function clientErrorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { status, expose } = err as { status?: unknown; expose?: unknown }
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined
  return err instanceof URIError || expose === true ? status : undefined
}

/** Turns whatever reached the error handler into a problem: HttpProblems as they are, client errors as 400, the rest as 500. */
export function toProblem(err: unknown): HttpProblem {
  if (err instanceof HttpProblem) return err
  const status = clientErrorStatus(err)
  if (status === 413) return new HttpProblem('PAYLOAD_TOO_LARGE', undefined, { cause: err })
  if (status === 415) return new HttpProblem('UNSUPPORTED_MEDIA_TYPE', undefined, { cause: err })
  // A static file's conditional or partial request (express.static): the header is the field at fault.
  if (status === 412) return new HttpProblem('PRECONDITION_FAILED', 'The file does not match the request\'s preconditions', { cause: err, errors: [{ path: 'header:if-match', message: 'matches no current version of the file (If-Match, If-Unmodified-Since)' }] })
  if (status === 416) return new HttpProblem('RANGE_NOT_SATISFIABLE', 'The Range header asks for bytes the file does not have', { cause: err, errors: [{ path: 'header:range', message: 'must name bytes within the file' }] })
  if (status !== undefined && err instanceof URIError) return new HttpProblem('BAD_REQUEST', 'The URL holds a malformed %-escape', { cause: err, errors: [{ path: 'url', message: 'holds a % not followed by two hex digits of UTF-8' }] })
  // body-parser's exposed errors (a corrupt compressed body, a body cut short) are about the body, in words fit for the client.
  if (status !== undefined) return new HttpProblem('BAD_REQUEST', 'The request could not be read', { cause: err, errors: [{ path: '/', message: (err as Error).message }] })
  return new HttpProblem('INTERNAL', 'Internal error', { cause: err })
}

/** Last middleware: renders HttpProblems, client errors as 4xx, and anything else as a 500 without leaking internals. */
export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const problem = toProblem(err)
  if (problem.status >= 500) req.log?.error({ err }, 'request failed')
  sendProblem(res, problem)
}
