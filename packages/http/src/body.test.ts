import { gzipSync, zstdCompressSync } from 'node:zlib'
import express from 'express'
import { describe, expect, it } from 'vitest'
import { serve } from '@opsreview/testing'
import { jsonBody, jsonDepthExceeds } from './body.ts'
import { problemHandler } from './problem.ts'

describe('jsonDepthExceeds', () => {
  it.each([
    ['{}', 1, false], ['{"a":[1]}', 1, true], ['{"a":[1]}', 2, false], ['"[[[[[["', 1, false], ['"\\"[[[["', 1, false],
    ['[' + '{"a":'.repeat(10) + '1' + '}'.repeat(10) + ']', 10, true], ['[' + '{"a":'.repeat(9) + '1' + '}'.repeat(9) + ']', 10, false],
  ])('%s deeper than %i: %s', (text, max, expected) => {
    expect(jsonDepthExceeds(Buffer.from(text), max)).toBe(expected)
  })
})

describe('jsonBody', () => {
  async function app() {
    const a = express()
    a.post('/', ...jsonBody(300_000), (req, res) => { res.json({ got: req.body as unknown }) })
    a.use(problemHandler)
    return serve(a)
  }
  const send = async (url: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
    return { status: res.status, body: await res.json() as { code?: string; errors?: { path: string; message: string }[]; got?: unknown } }
  }

  it('reads JSON, plain or compressed', async () => {
    const url = await app()
    expect(await send(url, '{"a":1}')).toEqual({ status: 200, body: { got: { a: 1 } } })
    expect(await send(url, gzipSync('{"a":2}'), { 'content-encoding': 'gzip' })).toEqual({ status: 200, body: { got: { a: 2 } } })
  })

  it.each([
    ['nesting 100,000 deep', '['.repeat(100_000) + ']'.repeat(100_000), {}, 400, 'BAD_REQUEST', '/'],
    ['nesting 65 deep', '['.repeat(65) + ']'.repeat(65), {}, 400, 'BAD_REQUEST', '/'],
    ['a corrupt gzip stream', 'not gzip', { 'content-encoding': 'gzip' }, 400, 'BAD_REQUEST', '/'],
    ['a corrupt deflate stream', 'xx', { 'content-encoding': 'deflate' }, 400, 'BAD_REQUEST', '/'],
    ['a corrupt br stream', '\u00ff\u00ff', { 'content-encoding': 'br' }, 400, 'BAD_REQUEST', '/'],
    ['an unknown encoding', '{}', { 'content-encoding': 'compress' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'header:content-encoding'],
    ['zstd, which body-parser would inflate', zstdCompressSync('{"a":1}'), { 'content-encoding': 'zstd' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'header:content-encoding'],
    ['two encodings', gzipSync(gzipSync('{"a":1}')), { 'content-encoding': 'gzip, gzip' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'header:content-encoding'],
    ['another content type', '{}', { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE', 'header:content-type'],
    ['a body over the limit', JSON.stringify({ a: 'x'.repeat(400_000) }), {}, 413, 'PAYLOAD_TOO_LARGE', '/'],
    ['a gzip bomb over the limit', gzipSync(Buffer.alloc(10_000_000, 0x20)), { 'content-encoding': 'gzip' }, 413, 'PAYLOAD_TOO_LARGE', '/'],
    ['not JSON', '{"a":', {}, 400, 'INVALID_JSON', '/'],
  ] as const)('refuses %s with a 4xx naming what failed', async (_what, body, headers, status, code, path) => {
    const res = await send(await app(), body as string | Buffer, headers)
    expect(res.status).toBe(status)
    expect(res.body.code).toBe(code)
    expect(res.body.errors?.[0]?.path).toBe(path)
  })

  it('reads a body declared UTF-8, or declared in no charset, as Alertmanager sends it', async () => {
    const url = await app()
    for (const type of [
      'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'application/json; charset=utf8', 'application/json; charset=us-ascii',
      // A quoted parameter value may hold a ';' and what looks like a charset: it is the value of foo.
      'application/json; foo="a;charset=utf-16"', 'application/json; foo="a\\"b;charset=utf-16"; charset=utf-8',
    ]) {
      expect(await send(url, '{"a":"é"}', { 'content-type': type }), type).toEqual({ status: 200, body: { got: { a: 'é' } } })
    }
  })

  it.each([
    ['latin-1', 'application/json; charset=iso-8859-1', Buffer.from('{"a":"\u00e9"}', 'latin1')],
    ['UTF-16', 'application/json; charset=utf-16le', Buffer.from('{"a":"\u00e9"}', 'utf16le')],
    ['UTF-16 quoted, after another parameter', 'application/json; foo=bar; charset="UTF-16"', Buffer.from('\ufeff{"a":1}', 'utf16le')],
  ])('refuses a body in %s with 415 naming the content type, never garbled', async (_what, type, body) => {
    const res = await send(await app(), body, { 'content-type': type })
    expect(res.status).toBe(415)
    expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    expect(res.body.errors).toEqual([{ path: 'header:content-type', message: 'must declare charset=utf-8 (or us-ascii) or no charset' }])
  })

  it.each([
    ['a byte that starts no UTF-8 sequence', Buffer.from([0xff, 0xfe])],
    ['a truncated sequence', Buffer.from([0xc3])],
    ['an overlong encoding', Buffer.from([0xc0, 0xa2])],
    ['a UTF-16 surrogate', Buffer.from([0xed, 0xa0, 0x80])],
  ])('refuses a body with %s with a 400 naming the body, never replaced with U+FFFD', async (_what, bad) => {
    const body = Buffer.concat([Buffer.from('{"a":"x'), bad, Buffer.from('y"}')])
    const res = await send(await app(), body)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('BAD_REQUEST')
    expect(res.body.errors).toEqual([{ path: '/', message: 'is not valid UTF-8' }])
  })

  it('refuses a string holding a lone surrogate with a 400 naming each one, as bytes that are not UTF-8 are refused', async () => {
    const url = await app()
    // JSON text as a sender writes it: the escapes are ASCII, the strings they make are not Unicode text.
    const res = await send(url, '{"alerts":[{"labels":{"alertname":"Disk\\ud800"}},{"fingerprint":"ok"},{"fingerprint":"\\udc00fp"}],"\\udbffkey":1}')
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('BAD_REQUEST')
    const message = 'must be Unicode text: it holds a lone surrogate (\\ud800 to \\udfff without its pair)'
    expect(res.body.errors).toEqual([{ path: '/alerts/0/labels/alertname', message }, { path: '/alerts/2/fingerprint', message }, { path: '/\ufffdkey', message }])
    // A pair is a character: taken, escaped or not.
    expect(await send(url, '{"a":"\\ud83d\\ude00 \ud83d\ude00","\\ud83d\\ude00":"x"}')).toEqual({ status: 200, body: { got: { a: '😀 😀', '😀': 'x' } } })
    // A body of many names ten of them.
    expect((await send(url, JSON.stringify(Array.from({ length: 50 }, () => '\ud800')))).body.errors).toHaveLength(10)
  })

  it('refuses a member named twice in one object with a 400 naming each repeat, however its name is spelled', async () => {
    const url = await app()
    // JSON.parse keeps the last value silently: a report's `"severity":"info", …, "severity":"critical"` was filed critical.
    const res = await send(url, '{"severity":"info","a":{"b":1,"\\u0062":2,"b":3},"list":[{"x/y":1,"x/y":2}],"severity":"critical"}')
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('BAD_REQUEST')
    const message = 'must be given once: an object holds this member more than once'
    expect(res.body.errors).toEqual([{ path: '/a/b', message }, { path: '/a/b', message }, { path: '/list/0/x~1y', message }, { path: '/severity', message }])
    // The same name in different objects, or as a value, is no repeat.
    expect(await send(url, '{"a":{"b":1},"c":{"b":"b"},"b":[{"b":1},{"b":2}]}')).toEqual({ status: 200, body: { got: { a: { b: 1 }, c: { b: 'b' }, b: [{ b: 1 }, { b: 2 }] } } })
  })

  it('reads a body that starts with a UTF-8 byte order mark, as RFC 8259 lets a parser, and keeps its bytes as sent', async () => {
    const a = express()
    a.post('/', ...jsonBody(1024), (req, res) => { res.json({ got: req.body as unknown, rawBytes: req.rawBody?.length }) })
    a.use(problemHandler)
    const url = await serve(a)
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":"é"}')])
    expect(await send(url, body)).toEqual({ status: 200, body: { got: { a: 'é' }, rawBytes: body.length } })
    // One mark is a mark; a second is a character outside JSON's grammar.
    const twice = await send(url, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]))
    expect(twice.status).toBe(400)
    expect(twice.body.code).toBe('INVALID_JSON')
  })

  it('accepts nesting up to 64 levels', async () => {
    expect((await send(await app(), '['.repeat(64) + ']'.repeat(64))).status).toBe(200)
  })
})
