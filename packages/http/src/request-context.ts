import { randomUUID } from 'node:crypto'
import type { RequestHandler } from 'express'
import type { Logger } from 'pino'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      id: string
      log: Logger
    }
  }
}

const validId = /^[\w.:-]{1,128}$/

/**
 * Gives each request an id (the caller's X-Request-Id when sane) and a child logger bound to it, and
 * logs one line per response: 4xx at info, 5xx at error. Bodies and tokens are never logged.
 */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id']
    const id = typeof incoming === 'string' && validId.test(incoming) ? incoming : randomUUID()
    req.id = id
    // The child logger is made on first use: most requests log nothing, and a child costs its bound
    // context's serialisation and redaction. A handler may still replace it (a quieter child, say).
    let log: Logger | undefined
    Object.defineProperty(req, 'log', {
      configurable: true, enumerable: true,
      get: () => (log ??= logger.child({ reqId: id })),
      set: (value: Logger) => { log = value },
    })
    res.setHeader('X-Request-Id', id)
    const started = performance.now()
    res.on('finish', () => {
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'
      // The root's level is the child's until a handler replaces the child.
      if (!(log ?? logger).isLevelEnabled(level)) return
      const entry = { method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round((performance.now() - started) * 10) / 10 }
      req.log[level](entry, level === 'info' ? 'request rejected' : 'request completed')
    })
    next()
  }
}
