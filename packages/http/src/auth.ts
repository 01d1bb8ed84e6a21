import { hash, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'
import { HttpProblem } from './problem.ts'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The name of the token that authenticated the request, when it carries one (`name:secret`). */
      tokenName?: string | undefined
    }
  }
}

// One-shot: a Hash object per request costs twice as much, on every authenticated request.
const digest = (s: string) => hash('sha256', s, 'buffer')

/** A configured bearer token: the secret, and the person or system it names when it names one. */
export interface BearerToken {
  secret: string
  name?: string
}

/** What a token's name may be: it becomes the actor of decisions, so no spaces, commas or colons. */
export const TOKEN_NAME = /^[\w.@+-]{1,200}$/

/**
 * Token entries as a service's settings give them: `name:secret` names the holder, a bare `secret`
 * names no one (its requests keep saying who they are, as before). A colon always means a name, so a
 * malformed name is refused rather than read as a bare secret that happens to hold a colon. The error
 * names every faulty entry (one at a time, an operator fixed a list in as many restarts) and never quotes a secret.
 */
export function parseTokenEntries(entries: readonly string[]): { ok: true; value: BearerToken[] } | { ok: false; error: string } {
  const tokens: BearerToken[] = []
  const errors: string[] = []
  const names = new Set<string>()
  for (const [i, raw] of entries.entries()) {
    const entry = raw.trim()
    const colon = entry.indexOf(':')
    if (colon === -1) {
      if (!entry) errors.push(`entry ${i + 1} is empty`)
      else tokens.push({ secret: entry })
      continue
    }
    const name = entry.slice(0, colon)
    const secret = entry.slice(colon + 1)
    if (!TOKEN_NAME.test(name)) { errors.push(`entry ${i + 1}: a name before ':' must be 1 to 200 letters, digits or . _ @ + -`); continue }
    if (!secret) { errors.push(`entry ${i + 1} (${name}) has no secret after ':'`); continue }
    if (names.has(name)) { errors.push(`entry ${i + 1}: the name ${name} is given twice`); continue }
    names.add(name)
    tokens.push({ name, secret })
  }
  const secrets = new Set(tokens.map((t) => t.secret))
  if (secrets.size !== tokens.length) errors.push('a secret is given twice')
  return errors.length > 0 ? { ok: false, error: errors.join('; ') } : { ok: true, value: tokens }
}

/**
 * Accepts `Authorization: Bearer <token>`, and a `token` query parameter only where `allowQueryToken` is
 * set: for senders that can only set a URL (Pingdom). A token in a URL ends up in proxy and access logs,
 * so no other route takes one. Tokens are compared through fixed-length digests in constant time, and every
 * configured token is compared, so timing tells nothing about which token nearly matched. A string is a bare
 * secret (as the receiver's tokens are); a named token puts its name on the request as `req.tokenName`.
 * Every refusal is a 401 `UNAUTHORIZED`, but a `token` given more than once, which is a 400 `INVALID_QUERY`
 * naming `/token` once the request authenticates (by its header, or by copies of one valid token); differing
 * values are a wrong token.
 */
export function tokenAuth(tokens: readonly (string | BearerToken)[], { allowQueryToken = false } = {}): RequestHandler {
  const expected = tokens.map((t) => (typeof t === 'string' ? { digest: digest(t), name: undefined } : { digest: digest(t.secret), name: t.name }))
  return (req, _res, next) => {
    const header = req.headers.authorization
    const query: unknown = allowQueryToken ? req.query.token : undefined
    // `?token=a&token=b` (or `token[x]=` under a nested-key parser) is not one token.
    const repeated = query !== undefined && typeof query !== 'string'
    let presented: string | undefined
    if (header?.toLowerCase().startsWith('bearer ')) presented = header.slice(7).trim()
    else if (typeof query === 'string') presented = query
    else if (Array.isArray(query)) {
      // Copies of one value are one token. Values that differ are not each tried: a request could then weigh
      // hundreds of guesses, and the 400 below would say that one of them was right.
      const values = query.filter((v): v is string => typeof v === 'string' && v !== '')
      if (values.length > 0 && values.some((v) => v !== values[0])) return next(new HttpProblem('UNAUTHORIZED', 'The token is not valid'))
      presented = values[0]
    }
    if (!presented) return next(new HttpProblem('UNAUTHORIZED', 'A bearer token is required'))
    const got = digest(presented)
    let match: { name: string | undefined } | undefined
    for (const e of expected) if (timingSafeEqual(e.digest, got) && !match) match = e
    // A malformed token (too short, not ASCII) is answered as a wrong one: a rule of shape would say what tokens
    // look like. A repeated one is named only to a sender that holds a valid token: told to anyone, and
    // kept as a refused request, unauthenticated traffic would fill the dead-letter topic.
    if (!match) return next(new HttpProblem('UNAUTHORIZED', 'The token is not valid'))
    if (repeated) return next(new HttpProblem('INVALID_QUERY', 'The token query parameter must be given once', { errors: [{ path: '/token', message: 'must be given once' }] }))
    req.tokenName = match.name
    next()
  }
}
