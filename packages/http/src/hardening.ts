import { once } from 'node:events'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { RequestHandler } from 'express'
import { HttpProblem, problemBody, problems } from './problem.ts'

/**
 * Headers every opsreview response carries: no MIME sniffing, no framing by other sites, no referrer
 * leaking a URL. The dashboard adds its own Content-Security-Policy on top; `frame-ancestors` here
 * covers every other response.
 */
export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Content-Security-Policy', "frame-ancestors 'none'")
    res.setHeader('Referrer-Policy', 'no-referrer')
    next()
  }
}

export interface ServerTimeouts {
  /** The whole request, headers and body, must arrive within this. */
  requestTimeoutMs: number
  /** The headers must arrive within this (a slow-loris client is cut off here). */
  headersTimeoutMs: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number
  /**
   * A socket silent for this long, either way, is closed even mid-body (Node checks the request and
   * header timeouts only every 30 s). A route that is silent by design while it waits must fit in it.
   */
  idleTimeoutMs: number
}

export const defaultServerTimeouts: ServerTimeouts = Object.freeze({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, idleTimeoutMs: 30_000 })

/**
 * Bounds how long a slow or silent client can hold a connection, and answers a request Node cannot read
 * with a problem naming what is wrong (`clientProblem`), as every other 4xx is answered.
 */
export function hardenServer(server: Server, timeouts: ServerTimeouts = defaultServerTimeouts): void {
  server.requestTimeout = timeouts.requestTimeoutMs
  server.headersTimeout = timeouts.headersTimeoutMs
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs
  server.timeout = timeouts.idleTimeoutMs
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    // Node's own answer was a bare status line (a URL past 16 KiB: "431" and no body). Nothing can be
    // written once the response began, or to a socket the client closed.
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (!socket.writable || response?.headersSent || err.code === 'ECONNRESET') { socket.destroy(); return }
    const problem = clientProblem(err.code)
    const body = JSON.stringify(problemBody(problem))
    socket.end(`HTTP/1.1 ${problem.status} ${problems[problem.code].title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  })
}

/** The problem of a request Node's HTTP parser refused, by its error code. */
function clientProblem(code: string | undefined): HttpProblem {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpProblem('HEADERS_TOO_LARGE', 'The request line and headers together are larger than 16 KiB', { errors: [{ path: 'url', message: 'with the headers, must fit in 16 KiB (a query this long belongs in a body)' }] })
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpProblem('REQUEST_TIMEOUT', 'The request was not received in full in time', { errors: [{ path: 'request', message: 'must arrive in full within the request timeout' }] })
    default:
      return new HttpProblem('BAD_REQUEST', 'The request is not well-formed HTTP', { errors: [{ path: 'request', message: `could not be parsed (${code ?? 'unknown error'})` }] })
  }
}

/**
 * Stops accepting and resolves once every connection is closed: for SIGTERM. `server.close` alone leaves a
 * keep-alive connection that is busy at that moment open, taking request after request from a sender that
 * never pauses 5 s (keepAliveTimeout), so shutdown would wait for the orchestrator's SIGKILL. Each answer
 * from now on closes its connection; what is still open after `graceMs` is cut.
 */
export async function closeServer(server: Server, graceMs = 10_000): Promise<void> {
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => { res.setHeader('Connection', 'close') })
  const closed = once(server, 'close').catch(() => undefined)
  server.close()
  server.closeIdleConnections()
  // A request under way when the close came is answered keep-alive (its headers were read before): its
  // connection goes idle after the answer, and is closed then, not when the client or keepAliveTimeout does.
  const sweep = setInterval(() => server.closeIdleConnections(), 100)
  const cut = setTimeout(() => server.closeAllConnections(), graceMs)
  await closed
  clearInterval(sweep)
  clearTimeout(cut)
}

