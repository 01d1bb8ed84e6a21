import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { readConfig } from '@opsreview/config'
import { freePort } from '@opsreview/testing/ports'
import { basicAuthorization, defaultResponseTimeQuery, MAX_ANSWER_BYTES, RESPONSE_TIME_TIMEOUT_MAX_MS, parseResponseTimes, readResponseTimes, responseTimeQueryUrl, responseTimeSourceOf, responseTimeSpec, secondsToMs } from './response-times.ts'

const from = Date.parse('2026-11-30T00:00:00Z')
const until = Date.parse('2026-12-01T00:00:00Z')
const vector = (result: unknown[]) => ({ status: 'success', data: { resultType: 'vector', result } })
const series = (metric: Record<string, string>, value: string) => ({ metric, value: [until / 1000, value] })
/** A review of every environment and service. */
const everything = { environments: null, services: null }

/** What the review's config says of a response-time query: 'accepted', or its errors. */
const query = (q: string) => { const r = readConfig(responseTimeSpec, { OPSREVIEW_RESPONSE_TIME_QUERY: q }); return r.ok ? 'accepted' : r.errors.join('\n') }

describe('responseTimeQueryUrl', () => {
  it('asks for the measured part of the window in whole seconds, at its end, under any path prefix', () => {
    const url = new URL(responseTimeQueryUrl({ url: 'http://prom.example:9090/prometheus/', query: defaultResponseTimeQuery }, from, until))
    expect(url.pathname).toBe('/prometheus/api/v1/query')
    expect(url.searchParams.get('query')).toBe('histogram_quantile(0.95, sum by (service, le) (increase(http_request_duration_seconds_bucket[86400s])))')
    expect(url.searchParams.get('time')).toBe(String(until / 1000))
    // A running window measured up to now: a fraction of a second is dropped, not written as 1.5s.
    expect(new URL(responseTimeQueryUrl({ url: 'http://p', query: 'q[$range] or r[$range]' }, from, from + 90_500)).searchParams.get('query')).toBe('q[90s] or r[90s]')
  })

  it("puts the review's environments in place of $environments, each name matched as it is, and .* for all", () => {
    const query = (environments: string[] | null) => new URL(responseTimeQueryUrl({ url: 'http://p', query: 'q{env=~"$environments"}[$range]' }, from, until, environments)).searchParams.get('query')
    expect(query(['production', 'staging'])).toBe('q{env=~"(?:production|staging)"}[86400s]')
    expect(query(null)).toBe('q{env=~".*"}[86400s]')
    expect(query([])).toBe('q{env=~".*"}[86400s]')
    // A regex character is escaped for RE2 and its backslash for the string; a quote cannot end the string, and a
    // name holding a placeholder or a replacement pattern ($&) is not replaced again.
    expect(query(['eu.prod'])).toBe('q{env=~"(?:eu\\\\.prod)"}[86400s]')
    expect(query(['a"b', 'c\\d', '$range', '$&'])).toBe('q{env=~"(?:a\\"b|c\\\\\\\\d|\\\\$range|\\\\$&)"}[86400s]')
  })

  it('puts in $environments one group, so that a query writing more around it still matches only those environments', () => {
    // As Prometheus reads it: the string unquoted (Go's escapes, as JSON's here), the regex anchored whole.
    const matcher = (query: string, environments: string[]) => {
      const quoted = /"(.*)"/.exec(new URL(responseTimeQueryUrl({ url: 'http://p', query: `q{env=~"${query}"}[$range]` }, from, until, environments)).searchParams.get('query')!)![1]!
      return new RegExp(`^(?:${JSON.parse(`"${quoted}"`) as string})$`, 'u')
    }
    const prefixed = matcher('eu-$environments', ['prod', 'staging'])
    expect(['eu-prod', 'eu-staging'].filter((e) => prefixed.test(e))).toEqual(['eu-prod', 'eu-staging'])
    // Not `staging` of another region, as `eu-prod|staging` would match.
    expect(['staging', 'us-staging', 'eu-prod-2'].filter((e) => prefixed.test(e))).toEqual([])
    const exact = matcher('$environments', ['eu.prod', 'c\\d', 'a"b'])
    expect(['eu.prod', 'c\\d', 'a"b', 'eu-prod', 'cd', 'eu.prod|x'].filter((e) => exact.test(e))).toEqual(['eu.prod', 'c\\d', 'a"b'])
  })
})

describe('parseResponseTimes', () => {
  it('gives one row per service label in milliseconds to the tenth, by name, null for no requests', () => {
    expect(parseResponseTimes(vector([series({ service: 'payments' }, '0.95'), series({ service: 'checkout' }, '0.01234'), series({ service: 'idle' }, 'NaN'), series({ service: 'inf' }, '+Inf')]), null))
      .toEqual({ ok: true, items: [{ service: 'checkout', ms: 12.3 }, { service: 'idle', ms: null }, { service: 'inf', ms: null }, { service: 'payments', ms: 950 }] })
  })

  it('leaves out series without a service and services the scope does not name, and keeps the highest of one service', () => {
    expect(parseResponseTimes(vector([series({}, '1'), series({ service: 'a', route: '/x' }, '0.2'), series({ service: 'a', route: '/y' }, '0.3'), series({ service: 'a', route: '/z' }, 'NaN'), series({ service: 'b' }, '0.1')]), ['a']))
      .toEqual({ ok: true, items: [{ service: 'a', ms: 300 }] })
  })

  it('refuses an error, another result type and a body that is no answer', () => {
    expect(parseResponseTimes({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' }, null)).toEqual({ ok: false, error: 'parse error at char 3' })
    expect(parseResponseTimes({ status: 'success', data: { resultType: 'matrix', result: [] } }, null)).toEqual({ ok: false, error: 'the query gives matrix, not an instant vector' })
    expect(parseResponseTimes(null, null).ok).toBe(false)
    expect(parseResponseTimes(vector([{ metric: { service: 'a' } }]), null).ok).toBe(false)
    expect(parseResponseTimes(vector([series({ service: 'a' }, '0.1'), null]), null)).toEqual({ ok: false, error: 'a series is not an object' })
  })

  it('rounds seconds to a tenth of a millisecond', () => {
    expect(secondsToMs('0.375')).toBe(375)
    expect(secondsToMs('0.00005')).toBe(0.1)
    expect(secondsToMs('-Inf')).toBeNull()
    expect(secondsToMs('0')).toBe(0)
  })

  it('refuses a value that is no duration instead of showing it, or showing it as no requests', () => {
    expect(parseResponseTimes(vector([series({ service: 'a' }, '-0.5')]), null)).toEqual({ ok: false, error: 'the query gives a "-0.5", not a duration in seconds' })
    expect(parseResponseTimes(vector([series({ service: 'a' }, 'x')]), null)).toEqual({ ok: false, error: 'the query gives a "x", not a duration in seconds' })
    expect(parseResponseTimes(vector([series({ service: 'a' }, '')]), null).ok).toBe(false)
  })
})

describe('configuration', () => {
  it('is off without a URL, needs an http(s) URL and $range in the query, and names both faults', () => {
    const off = readConfig(responseTimeSpec, {})
    expect(off.ok && responseTimeSourceOf(off.value)).toBeUndefined()
    const on = readConfig(responseTimeSpec, { OPSREVIEW_PROMETHEUS_URL: 'http://127.0.0.1:9090' })
    expect(on.ok && responseTimeSourceOf(on.value)).toEqual({ url: 'http://127.0.0.1:9090', query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 5_000 })
    const bad = readConfig(responseTimeSpec, { OPSREVIEW_PROMETHEUS_URL: 'ftp://user:secret@x', OPSREVIEW_RESPONSE_TIME_QUERY: 'up' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.errors.join('\n')).toContain('must contain $range')
      expect(bad.errors.join('\n')).toContain('OPSREVIEW_PROMETHEUS_URL must be an http(s) URL')
      expect(bad.errors.join('\n')).not.toContain('secret')
    }
    // The API path goes after the base URL: a query or fragment there would take it in.
    for (const url of ['http://prom:9090/?x=1', 'http://prom:9090/#top']) {
      const r = readConfig(responseTimeSpec, { OPSREVIEW_PROMETHEUS_URL: url })
      expect(r.ok ? [] : r.errors, url).toEqual([expect.stringContaining('OPSREVIEW_PROMETHEUS_URL must be an http(s) URL without a query or fragment')])
    }
  })

  it('refuses a placeholder it does not know, and $environments outside double quotes, naming each', () => {
    // Misspelt, the placeholder went to Prometheus as it was, and the review showed an empty table, not a fault.
    expect(query('histogram_quantile(0.95, sum by (service, le) (increase(x_bucket{env=~"$environment"}[$range])))'))
      .toContain('unknown placeholder $environment (opsreview replaces $range and $environments')
    expect(query('histogram_quantile(0.95, x_bucket{env=~"$envs", zone=~"$zones"}[$ranges])')).toMatch(/\$envs.*\$zones.*\$ranges/s)
    // A `$` meant as itself (a JVM class label, Outer$Inner) is refused too: the error says how to write it.
    expect(query('x_bucket{class="Outer$Inner"}[$range]')).toContain('a $ meant as itself is written \\x24')
    expect(query('x_bucket{class="Outer\\x24Inner"}[$range]')).toBe('accepted')
    // Its escaping is that of a string in double quotes: in single quotes `\"` is no escape, in backquotes `\\.` is two characters.
    for (const q of ["x_bucket{env=~'$environments'}[$range]", 'x_bucket{env=~`$environments`}[$range]', 'x_bucket[$range] and on() $environments']) {
      expect(query(q), q).toContain('$environments must be inside double quotes')
    }
    // A label_replace template may name a group of its own regular expression; `$` may end one; `$1` is a group too.
    for (const q of [
      defaultResponseTimeQuery,
      'histogram_quantile(0.95, sum by (service, le) (increase(http_request_duration_seconds_bucket{env=~"$environments"}[$range])))',
      'histogram_quantile(0.95, sum by (service, le) (label_replace(increase(http_server_requests_seconds_bucket[$range]), "service", "$1", "job", "(.*)")))',
      'label_replace(x_bucket[$range], "service", "${svc}-$svc", "job", "(?P<svc>.*)")',
      'x_bucket{path=~"^/api$", env=~"\\"$environments\\""}[$range]',
    ]) expect(query(q), q).toBe('accepted')
  })

  it('refuses ${environments} and ${range}: the review replaces $environments and $range only, and Prometheus takes the rest as a regular expression matching nothing', () => {
    expect(responseTimeQueryUrl({ url: 'http://p', query: 'x_bucket{env=~"${environments}"}[$range]' }, from, until, ['prod'])).toContain(encodeURIComponent('${environments}'))
    expect(query('x_bucket{env=~"${environments}"}[$range]')).toContain('unknown placeholder ${environments} (opsreview replaces $range and $environments')
    expect(query('x_bucket[$range] offset ${range}')).toContain('unknown placeholder ${range}')
    // A group of that name makes it the label_replace template's, as any other.
    expect(query('label_replace(increase(x_bucket[$range]), "service", "${range}", "job", "(?P<range>.*)")')).toBe('accepted')
    // Unbraced, the two are the review's whatever the groups: $range is still there, $environments still escaped for double quotes.
    expect(query("label_replace(x_bucket{env=~'$environments'}[1d], \"a\", \"x\", \"job\", \"(?P<environments>.*)(?P<range>.*)\")")).toMatch(/must contain \$range.*\$environments must be inside double quotes/s)
  })

  it('takes $$ as a label_replace template writes a $ (promtool check rules takes "$$svc-${1}")', () => {
    expect(query('label_replace(increase(x_bucket[$range]), "service", "$$svc-${1}", "job", "(.*)")')).toBe('accepted')
    expect(query('label_replace(increase(x_bucket[$range]), "service", "$$$svc", "job", "(.*)")')).toContain('unknown placeholder $svc')
  })

  it('refuses $1x, which Prometheus reads as a group named 1x (empty), not group 1 followed by x', () => {
    expect(query('label_replace(increase(x_bucket[$range]), "service", "$1_api", "job", "(.*)")'))
      .toContain('$1_api is the group named 1_api to a label_replace template, not group 1 followed by _api: write ${1}_api there; a $ meant as itself is written \\x24')
    // Outside a template, as in a label value, the same `$` is refused as any other, and the error says how to write it.
    expect(query('increase(x_bucket{version="v$1beta"}[$range])')).toContain('a $ meant as itself is written \\x24')
    for (const q of [
      'label_replace(increase(x_bucket[$range]), "service", "${1}_api", "job", "(.*)")', 'label_replace(increase(x_bucket[$range]), "service", "$1-api", "job", "(.*)")',
      // Go takes a group name starting with a digit: there $1x is the query's own group.
      'label_replace(increase(x_bucket[$range]), "service", "$1x", "job", "(?P<1x>.*)")',
    ]) {
      expect(query(q), q).toBe('accepted')
    }
  })

  it('reads past a comment (# to the end of the line, outside strings) as Prometheus does', () => {
    // promtool check rules takes both: an apostrophe or a $name in a comment is no string and no placeholder.
    expect(query('# p95 of each team\'s services\nhistogram_quantile(0.95, sum by (service, le) (increase(x_bucket{env=~"$environments"}[$range])))')).toBe('accepted')
    expect(query('# $svc comes from the job label\nlabel_replace(increase(x_bucket[$range]), "service", "$1", "job", "(.*)") # "$environment" is unused')).toBe('accepted')
    // A # inside a string is no comment, and after a comment the query is read again.
    expect(query('x_bucket{path="#$environment"}[$range]')).toContain('unknown placeholder $environment')
    expect(query('# a comment\nx_bucket{env=~"$environment"}[$range]')).toContain('unknown placeholder $environment')
    // Nor is a $range in a comment, or one that is part of a longer name, the window the figure is over.
    expect(query('# over [$range]\nhistogram_quantile(0.95, x_bucket[1d])')).toContain('must contain $range')
    expect(query('histogram_quantile(0.95, x_bucket[$ranges])')).toContain('must contain $range')
  })

  it('waits for Prometheus at most 20 s, well within the review socket\'s idle timeout', () => {
    const long = readConfig(responseTimeSpec, { OPSREVIEW_RESPONSE_TIME_TIMEOUT: '60s' })
    expect(long.ok ? 'accepted' : long.errors.join('\n')).toContain('OPSREVIEW_RESPONSE_TIME_TIMEOUT must be at most 20000 ms')
    const most = readConfig(responseTimeSpec, { OPSREVIEW_RESPONSE_TIME_TIMEOUT: '20s' })
    expect(most.ok && most.value.OPSREVIEW_RESPONSE_TIME_TIMEOUT).toBe(RESPONSE_TIME_TIMEOUT_MAX_MS)
  })

  it('asks nothing when not configured, or when the window has no measured part or one under a second', async () => {
    expect(await readResponseTimes(undefined, from, until, everything)).toEqual({ status: 'not-configured' })
    // fetch refuses port 9 ("bad port"): asked, the answer would be unavailable.
    expect(await readResponseTimes({ url: 'http://127.0.0.1:9', query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 1_000 }, until, until, everything)).toEqual({ status: 'ok', name: 'p95', items: [] })
    // A running window under a second old: $range would be 0s, which Prometheus refuses.
    expect(await readResponseTimes({ url: 'http://127.0.0.1:9', query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 1_000 }, from, from + 999, everything)).toEqual({ status: 'ok', name: 'p95', items: [] })
  })

  it('sends the user and password of the URL as basic auth, and never puts them in the answer', async () => {
    // A Prometheus with basic_auth_users (or a proxy in front of it): the vector only with the right header.
    const server = createHttpServer((req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from('ops:s3/cret').toString('base64')}` && req.url?.startsWith('/prom/api/v1/query?')
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
      res.end(JSON.stringify(ok ? vector([series({ service: 'checkout' }, '0.375')]) : { status: 'error', errorType: 'unauthorized', error: 'Unauthorized' }))
    }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
    const port = (server.address() as AddressInfo).port
    const source = { url: `http://ops:s3%2Fcret@127.0.0.1:${port}/prom`, query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 5_000 }
    expect(await readResponseTimes(source, from, until, everything)).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }] })
    expect(responseTimeQueryUrl(source, from, until)).not.toContain('s3')
    expect(basicAuthorization('http://127.0.0.1:9090')).toEqual({})
    // Down: the error says so, without the password.
    const down = await readResponseTimes({ ...source, url: `http://ops:s3cret@127.0.0.1:${await freePort()}` }, from, until, everything)
    expect(down).toMatchObject({ status: 'unavailable', error: expect.stringContaining('ECONNREFUSED') })
    expect(JSON.stringify(down)).not.toContain('s3cret')
  })

  it('reads no answer larger than 16 MiB, said or not in its content-length', async () => {
    // A query keeping a label of many values: a well-formed vector, too large to hold.
    const row = JSON.stringify(series({ service: 'checkout', pod: 'p' }, '0.1'))
    const body = JSON.stringify(vector([])).replace('[]', `[${Array.from({ length: Math.ceil(MAX_ANSWER_BYTES / row.length) + 1 }, () => row).join(',')}]`)
    const server = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...(req.url?.includes('/sized/') ? { 'content-length': Buffer.byteLength(body) } : {}) })
      res.end(body)
    }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    for (const prefix of ['/streamed', '/sized']) {
      expect(await readResponseTimes({ url: `${url}${prefix}`, query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 10_000 }, from, until, everything))
        .toEqual({ status: 'unavailable', name: 'p95', error: 'HTTP 200, an answer larger than 16 MiB' })
    }
  })

  it('gives up on a Prometheus that does not answer after the timeout, and says so', async () => {
    // Takes the connection and never answers, as a Prometheus stuck on a heavy query.
    const server = createServer((socket) => { onTestFinished(() => { socket.destroy() }) }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    onTestFinished(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    expect(await readResponseTimes({ url, query: defaultResponseTimeQuery, name: 'p95', timeoutMs: 200 }, from, until, everything)).toEqual({ status: 'unavailable', name: 'p95', error: 'no answer within 200 ms' })
  })
})
