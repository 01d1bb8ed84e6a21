import express, { type RequestHandler } from 'express'
import { escapePointer } from '@opsreview/schemas'
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
 * The `charset` parameters of a Content-Type, lower-cased and unquoted. JSON is UTF-8 (RFC 8259), which
 * is how the body is decoded, so a body declared in another charset would be read garbled.
 */
function declaredCharsets(contentType: string): string[] {
  // Parameters as RFC 9110 has them: a value may be a quoted string, which can hold a `;` or `charset=`.
  const out: string[] = []
  for (const [, name, quoted, token] of contentType.matchAll(/;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g)) {
    if (name!.toLowerCase() === 'charset') out.push((quoted ?? token ?? '').replace(/\\(.)/g, '$1').trim().toLowerCase())
  }
  return out
}
// ASCII is UTF-8 too: .NET's StringContent with Encoding.ASCII, for one, declares it.
const utf8 = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii'])

// fatal: bytes that are not UTF-8 throw instead of becoming U+FFFD, which would be accepted and stored as
// if the sender had meant it. A leading BOM is dropped (RFC 8259 lets a parser ignore it; .NET and
// PowerShell clients write one): kept, JSON.parse refused the body with an invisible character in the message.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** An escaped surrogate in JSON text (`"\ud800"`): only then can a parsed string hold a lone one. */
const surrogateEscape = /\\u[dD][89a-fA-F]/
/** Strings named in a refusal, at most: a body of thousands names a sample. */
const MAX_NAMED = 10

/**
 * JSON Pointers of the strings in a parsed body, member names included, that hold a lone surrogate (an
 * escaped `\ud800`–`\udfff` without its pair): valid JSON, but no Unicode text. UTF-8 writes every lone
 * surrogate as U+FFFD and Elasticsearch's keywords as `?`, so two alerts differing only there were one
 * alert to the ids, the dedup and the index. As bytes that are not UTF-8, refused at the edge.
 */
export function illFormedStrings(value: unknown, path = '', out: string[] = []): string[] {
  if (out.length >= MAX_NAMED) return out
  if (typeof value === 'string') {
    if (!value.isWellFormed()) out.push(path || '/')
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => illFormedStrings(v, `${path}/${i}`, out))
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const at = `${path}/${escapePointer(k.toWellFormed())}`
      if (!k.isWellFormed() && out.length < MAX_NAMED) out.push(at)
      illFormedStrings(v, at, out)
    }
  }
  return out
}

/**
 * JSON Pointers of the members an object of the JSON text names again (each repeat, ten at most), however
 * each spelling escapes the name (`"b"` and `"\u0062"` are one name). JSON.parse keeps the last value
 * silently, so `{"current_state":"DOWN","current_state":"UP"}` was taken as a resolve, and a report's second
 * `severity` overrode its first, neither telling the sender. `text` is JSON that JSON.parse took, nested at
 * most DEFAULT_MAX_JSON_DEPTH deep: the scan trusts its grammar, and its recursion is bounded by that depth.
 */
export function repeatedMembers(text: string): string[] {
  const out: string[] = []
  // The path of the value being read, a segment per level, made a pointer only for a repeat.
  const segments: string[] = []
  let i = 0
  const space = () => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++i));
  }
  const string = (): string => {
    const start = i++
    let escaped = false
    for (let c = text.charCodeAt(i++); c !== 0x22; c = text.charCodeAt(i++)) {
      if (c === 0x5c) { escaped = true; i++ }
    }
    return escaped ? JSON.parse(text.slice(start, i)) as string : text.slice(start + 1, i - 1)
  }
  const value = (): void => {
    space()
    const c = text.charCodeAt(i)
    if (c === 0x7b) {
      i++
      space()
      if (text.charCodeAt(i) === 0x7d) { i++; return }
      const names = new Set<string>()
      for (;;) {
        space()
        const name = string()
        segments.push(name)
        if (!names.has(name)) names.add(name)
        else if (out.length < MAX_NAMED) out.push(segments.map((s) => `/${escapePointer(s.toWellFormed())}`).join(''))
        space()
        i++ // the colon
        value()
        segments.pop()
        space()
        if (text.charCodeAt(i++) === 0x7d) return
      }
    }
    if (c === 0x5b) {
      i++
      space()
      if (text.charCodeAt(i) === 0x5d) { i++; return }
      for (let index = 0; ; index++) {
        segments.push(String(index))
        value()
        segments.pop()
        space()
        if (text.charCodeAt(i++) === 0x5d) return
      }
    }
    if (c === 0x22) { string(); return }
    // A number, true, false or null: up to the next delimiter.
    for (let d = text.charCodeAt(i); i < text.length && d !== 0x2c && d !== 0x5d && d !== 0x7d && d !== 0x20 && d !== 0x09 && d !== 0x0a && d !== 0x0d; d = text.charCodeAt(++i));
  }
  value()
  return out
}

/** Deeper than any webhook or report (they nest 4 levels), far below what JSON.stringify's recursion survives. */
export const DEFAULT_MAX_JSON_DEPTH = 64

/**
 * The deepest nesting of arrays and objects in JSON text, counted without parsing. JSON.parse copes with
 * 100,000 levels, but JSON.stringify and structuredClone recurse and throw a RangeError on them later.
 * Stops counting once `max` is passed.
 */
export function jsonDepthExceeds(bytes: Uint8Array, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]
    if (inString) {
      if (c === 0x5c) i++ // a backslash: the next byte is escaped, whatever it is
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return false
}

/**
 * Reads a JSON body up to `limit` bytes (after Content-Encoding): 415 for another content type, a
 * declared charset other than UTF-8 (none declared is UTF-8) or another encoding, 413 when too large,
 * 400 when it is not UTF-8, does not parse, holds a lone surrogate (`illFormedStrings`), names a member of an object twice (`repeatedMembers`), is corrupt (a broken
 * gzip, deflate or br stream) or nests deeper than `maxDepth`. Every refusal names what failed in `errors`. `req.body` is the
 * parsed value and `req.rawBody` the bytes.
 */
const knownEncodings = new Set(['', 'identity', 'gzip', 'deflate', 'br'])

export function jsonBody(limit: number, { maxDepth = DEFAULT_MAX_JSON_DEPTH } = {}): RequestHandler[] {
  const raw = express.raw({ type: () => true, limit })
  return [
    (req, _res, next) => {
      const contentType = req.headers['content-type'] ?? ''
      const type = contentType.split(';')[0]!.trim()
      if (!jsonType.test(type)) {
        return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type.slice(0, 100) || '(none)')} is not JSON`, {
          errors: [{ path: 'header:content-type', message: 'must be application/json' }],
        }))
      }
      // body-parser 2 inflates zstd too: refused as the documents say, not an encoding nobody tested.
      const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
      if (!knownEncodings.has(encoding)) {
        return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content encoding', {
          errors: [{ path: 'header:content-encoding', message: 'must be one of identity, gzip, deflate, br' }],
        }))
      }
      // express.raw hands over the bytes whatever the charset says: the check is ours.
      const other = declaredCharsets(contentType).find((c) => !utf8.has(c))
      if (other !== undefined) {
        return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', `Charset ${JSON.stringify(other.slice(0, 40))} is not UTF-8`, {
          errors: [{ path: 'header:content-type', message: 'must declare charset=utf-8 (or us-ascii) or no charset' }],
        }))
      }
      next()
    },
    (req, res, next) =>
      raw(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; status?: unknown; message?: unknown }
          if (e.type === 'entity.too.large') return next(new HttpProblem('PAYLOAD_TOO_LARGE', `Body exceeds ${limit} bytes`, { errors: [{ path: '/', message: `must not exceed ${limit} bytes` }] }))
          if (e.type === 'encoding.unsupported') {
            return next(new HttpProblem('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content encoding', {
              errors: [{ path: 'header:content-encoding', message: 'must be one of identity, gzip, deflate, br' }],
            }))
          }
          // A client fault while reading (a corrupt compressed stream, an aborted upload): never a 500.
          if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
            const encoding = String(req.headers['content-encoding'] ?? 'identity').slice(0, 40)
            return next(new HttpProblem('BAD_REQUEST', `The body could not be read (Content-Encoding ${encoding})`, {
              cause: err, errors: [{ path: '/', message: `could not be decoded as ${encoding}: ${String(e.message).slice(0, 200)}` }],
            }))
          }
          return next(err)
        }
        next()
      }),
    (req, _res, next) => {
      const bytes: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      req.rawBody = bytes
      if (jsonDepthExceeds(bytes, maxDepth)) {
        return next(new HttpProblem('BAD_REQUEST', `JSON nests deeper than ${maxDepth} levels`, { errors: [{ path: '/', message: `must not nest deeper than ${maxDepth} levels` }] }))
      }
      let text: string
      try {
        text = utf8Decoder.decode(bytes)
      } catch {
        return next(new HttpProblem('BAD_REQUEST', 'The body is not valid UTF-8', { errors: [{ path: '/', message: 'is not valid UTF-8' }] }))
      }
      try {
        req.body = JSON.parse(text)
      } catch (err) {
        return next(new HttpProblem('INVALID_JSON', (err as Error).message, { errors: [{ path: '/', message: (err as Error).message }] }))
      }
      const illFormed = surrogateEscape.test(text) ? illFormedStrings(req.body) : []
      if (illFormed.length > 0) {
        return next(new HttpProblem('BAD_REQUEST', 'The body holds text that is not Unicode', {
          errors: illFormed.map((path) => ({ path, message: 'must be Unicode text: it holds a lone surrogate (\\ud800 to \\udfff without its pair)' })),
        }))
      }
      const repeated = repeatedMembers(text)
      if (repeated.length > 0) {
        return next(new HttpProblem('BAD_REQUEST', 'The body names a member of an object more than once', {
          errors: repeated.map((path) => ({ path, message: 'must be given once: an object holds this member more than once' })),
        }))
      }
      next()
    },
  ]
}
