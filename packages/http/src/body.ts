import express, { type RequestHandler } from 'express'
import { HttpProblem } from './problem.ts'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The raw bytes, kept so a rejected request can go to the dead-letter topic as it came. */
      rawBody?: Buffer
    }
  }
}

const jsonType = /^application\/([\w.+-]+\+)?json$/i

/**
 * Reads a JSON body up to `limit` bytes: 415 for another content type, 413 when too large, 400 when it
 * does not parse. `req.body` is the parsed value and `req.rawBody` the bytes.
 */
export function jsonBody(limit: number): RequestHandler[] {
  const raw = express.raw({ type: () => true, limit })
  return [
    (req, _res, next) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
      if (!jsonType.test(type)) return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type || '(none)')} is not JSON`))
      next()
    },
    (req, res, next) =>
      raw(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; status?: number; limit?: number }
          if (e.type === 'entity.too.large') return next(new HttpProblem('PAYLOAD_TOO_LARGE', `Body exceeds ${limit} bytes`))
          if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content encoding or charset'))
          return next(err)
        }
        next()
      }),
    (req, _res, next) => {
      const bytes: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      req.rawBody = bytes
      try {
        req.body = JSON.parse(bytes.toString('utf8'))
      } catch (err) {
        return next(new HttpProblem('INVALID_JSON', (err as Error).message, { errors: [{ path: '/', message: (err as Error).message }] }))
      }
      next()
    },
  ]
}
