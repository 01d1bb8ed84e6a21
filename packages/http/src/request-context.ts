import { randomUUID } from 'node:crypto'
import type { Request, RequestHandler } from 'express'
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

const rootLogger = Symbol('requestContext.rootLogger')
const childLogger = Symbol('requestContext.childLogger')
type WithLoggers = Request & { [rootLogger]: Logger; [childLogger]?: Logger }

/**
 * `req.log` as an accessor on the requests' prototype, defined once per prototype. An accessor defined
 * on each request instead turns every request into a slow dictionary object: it cost ~50 µs per request
 * (a third of express's whole cost per webhook) in property lookups all through express.
 */
const prototypesWithLog = new WeakSet<object>()
function defineLogAccessor(proto: object): void {
  if (prototypesWithLog.has(proto)) return
  prototypesWithLog.add(proto)
  Object.defineProperty(proto, 'log', {
    configurable: true, enumerable: true,
    // The child logger is made on first use: most requests log nothing, and a child costs its bound
    // context's serialisation and redaction. A handler may still replace it (a quieter child, say).
    // Undefined on a request of this app that has not reached requestContext yet, as before it was defined.
    get(this: Partial<WithLoggers>) { return (this[childLogger] ??= this[rootLogger]?.child({ reqId: this.id })) },
    set(this: WithLoggers, value: Logger) { this[childLogger] = value },
  })
}

/**
 * Gives each request an id (the caller's X-Request-Id when sane) and a child logger bound to it, and
 * logs one line per response: 4xx at info, 5xx at error. Bodies and tokens are never logged.
 */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id']
    const id = typeof incoming === 'string' && validId.test(incoming) ? incoming : randomUUID()
    req.id = id
    defineLogAccessor(Object.getPrototypeOf(req) as object)
    const withLoggers = req as WithLoggers
    withLoggers[rootLogger] = logger
    res.setHeader('X-Request-Id', id)
    const started = performance.now()
    res.on('finish', () => {
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'
      // The root's level is the child's until a handler replaces the child.
      if (!(withLoggers[childLogger] ?? logger).isLevelEnabled(level)) return
      const entry = { method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round((performance.now() - started) * 10) / 10 }
      req.log[level](entry, level === 'info' ? 'request rejected' : 'request completed')
    })
    next()
  }
}
