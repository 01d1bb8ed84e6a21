import { describe, expect, it } from 'vitest'
import type { Response } from 'express'
import { HttpProblem, sendProblem, toProblem } from './problem.ts'

/** What the router throws for a bad %-escape in a path parameter. */
function routerDecodeError(): URIError {
  const err = new URIError('URI malformed') as URIError & { status: number; statusCode: number }
  err.status = err.statusCode = 400
  return err
}

/** What body-parser passes on (http-errors): a status and `expose: true`. */
function bodyParserError(status: number): Error {
  return Object.assign(new Error('incorrect header check'), { status, statusCode: status, expose: true, type: 'encoding.corrupt' })
}

/** What a client library throws for an upstream answer, e.g. Elasticsearch's 429 when overloaded. */
function upstreamError(statusCode: number): Error {
  return Object.assign(new Error('es_rejected_execution_exception'), { statusCode, meta: { statusCode } })
}

describe('toProblem', () => {
  it('keeps an HttpProblem as it is', () => {
    const p = new HttpProblem('NOT_FOUND')
    expect(toProblem(p)).toBe(p)
  })

  it("turns the router's bad %-escape into a 400 that says so", () => {
    const p = toProblem(routerDecodeError())
    expect(p.status).toBe(400)
    expect(p.code).toBe('BAD_REQUEST')
    expect(p.message).toMatch(/%-escape/)
    expect(p.errors).toEqual([{ path: 'url', message: 'holds a % not followed by two hex digits of UTF-8' }])
  })

  it('keeps a URIError of our own, not the router\'s, a server-side failure', () => {
    expect(toProblem(new URIError('URI malformed')).status).toBe(500)
  })

  it.each([[400, 'BAD_REQUEST'], [413, 'PAYLOAD_TOO_LARGE'], [415, 'UNSUPPORTED_MEDIA_TYPE']] as const)('turns a body parser %i into %s', (status, code) => {
    expect(toProblem(bodyParserError(status)).code).toBe(code)
  })

  it('names the body as the field of a body that could not be read', () => {
    expect(toProblem(bodyParserError(400)).errors).toEqual([{ path: '/', message: 'incorrect header check' }])
  })

  it.each([[412, 'PRECONDITION_FAILED', 'header:if-match'], [416, 'RANGE_NOT_SATISFIABLE', 'header:range']] as const)("keeps a static file's %i as %s, naming the header", (status, code, path) => {
    // What express.static (send) passes on: an http-error with its status and `expose: true`.
    const p = toProblem(Object.assign(new Error('Range Not Satisfiable'), { status, statusCode: status, expose: true }))
    expect(p.status).toBe(status)
    expect(p.code).toBe(code)
    expect(p.errors).toMatchObject([{ path }])
  })

  it.each([429, 404, 400])("keeps an upstream client's %i a server-side failure", (status) => {
    expect(toProblem(upstreamError(status)).status).toBe(500)
  })

  it('turns anything else into a 500', () => {
    expect(toProblem(new TypeError('x is undefined')).status).toBe(500)
    expect(toProblem('a string').status).toBe(500)
    expect(toProblem(null).status).toBe(500)
  })
})

describe('sendProblem', () => {
  /** The little of express's Response that sendProblem uses, recording what it was given. */
  function response() {
    const sent: { status?: number; type?: string; body?: string; headers: Record<string, string> } = { headers: {} }
    const res = {
      setHeader: (name: string, value: string) => { sent.headers[name] = value },
      status(code: number) { sent.status = code; return this },
      type(t: string) { sent.type = t; return this },
      send(body: string) { sent.body = body; return this },
    }
    return { res: res as unknown as Response, sent }
  }

  it('writes the extensions after the standard members, never in place of one', () => {
    const { res, sent } = response()
    sendProblem(res, new HttpProblem('ALERTS_REFUSED', '2 alert(s) refused', { errors: [{ path: '/alerts/0/status', message: 'must be equal to one of the allowed values' }] }), { accepted: 0, rejectedTotal: 2, status: 200, code: 'OK' })
    expect(sent.status).toBe(422)
    expect(sent.type).toBe('application/problem+json')
    const body = JSON.parse(sent.body!) as Record<string, unknown>
    expect(Object.keys(body)).toEqual(['type', 'title', 'status', 'code', 'detail', 'errors', 'accepted', 'rejectedTotal'])
    expect(body).toMatchObject({ status: 422, code: 'ALERTS_REFUSED', detail: '2 alert(s) refused', accepted: 0, rejectedTotal: 2 })
  })
})
