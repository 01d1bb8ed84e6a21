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
    req.id = typeof incoming === 'string' && validId.test(incoming) ? incoming : randomUUID()
    req.log = logger.child({ reqId: req.id })
    res.setHeader('X-Request-Id', req.id)
    const started = performance.now()
    res.on('finish', () => {
      const entry = { method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round((performance.now() - started) * 10) / 10 }
      if (res.statusCode >= 500) req.log.error(entry, 'request completed')
      else if (res.statusCode >= 400) req.log.info(entry, 'request rejected')
      else req.log.debug(entry, 'request completed')
    })
    next()
  }
}
