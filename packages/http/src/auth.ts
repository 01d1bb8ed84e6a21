import { createHash, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'
import { HttpProblem } from './problem.ts'

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Accepts `Authorization: Bearer <token>`, and a `token` query parameter only where `allowQueryToken` is
 * set: for senders that can only set a URL (Pingdom). A token in a URL ends up in proxy and access logs,
 * so no other route takes one. Tokens are compared through fixed-length digests in constant time, and every
 * configured token is compared, so timing tells nothing about which token nearly matched.
 */
export function tokenAuth(tokens: readonly string[], { allowQueryToken = false } = {}): RequestHandler {
  const expected = tokens.map(digest)
  return (req, _res, next) => {
    const header = req.headers.authorization
    let presented: string | undefined
    if (header?.toLowerCase().startsWith('bearer ')) presented = header.slice(7).trim()
    else if (allowQueryToken && typeof req.query.token === 'string') presented = req.query.token
    if (!presented) return next(new HttpProblem('UNAUTHORIZED', 'A bearer token is required'))
    const got = digest(presented)
    let match = false
    for (const e of expected) match = timingSafeEqual(e, got) || match
    next(match ? undefined : new HttpProblem('UNAUTHORIZED', 'The token is not valid'))
  }
}
