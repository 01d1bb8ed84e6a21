import { describe, expect, it } from 'vitest'
import { field, readConfig } from './index.ts'

const spec = {
  PORT: field.port('listen port', 8080),
  TOKENS: field.list('ingest tokens', undefined, { minItems: 1 }),
  LEVEL: field.oneOf('log level', ['info', 'debug'] as const, 'info'),
  LIMIT: field.bytes('body limit', 1024 * 1024),
  QUIET: field.duration('quiet period', 5 * 60_000),
}

describe('readConfig', () => {
  it('applies defaults and parses values', () => {
    const r = readConfig(spec, { TOKENS: 'a, b', LIMIT: '2mb', QUIET: '90s' })
    expect(r).toEqual({ ok: true, value: { PORT: 8080, TOKENS: ['a', 'b'], LEVEL: 'info', LIMIT: 2 * 1024 * 1024, QUIET: 90_000 } })
    if (r.ok) expect(Object.isFrozen(r.value)).toBe(true)
  })

  it('lists every error at once', () => {
    const r = readConfig(spec, { PORT: '70000', LEVEL: 'loud', LIMIT: 'lots', QUIET: '5 minutes' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(5)
      expect(r.errors.join('\n')).toMatch(/QUIET must be a duration/)
      expect(r.errors.join('\n')).toMatch(/PORT must be <= 65535/)
      expect(r.errors.join('\n')).toMatch(/TOKENS is required/)
      expect(r.errors.join('\n')).toMatch(/LEVEL must be one of info, debug/)
      expect(r.errors.join('\n')).toMatch(/LIMIT must be a size/)
    }
  })

  it("takes a timer's delay up to the longest Node's timers wait, and refuses a longer one", () => {
    const timers = { TICK: field.timer('tick', 5000), STALL: field.timer('stall', 60_000, { min: 1000, max: 86_400_000 }) }
    expect(readConfig(timers, { TICK: '2147483647ms' })).toEqual({ ok: true, value: { TICK: 2 ** 31 - 1, STALL: 60_000 } })
    const r = readConfig(timers, { TICK: '2147483648ms', STALL: '2d' })
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(/^TICK must be at most 2147483647 ms, got 2147483648 ms/),
      expect.stringMatching(/^STALL must be at most 86400000 ms, got 172800000 ms/),
    ])
  })

  it('refuses a topic name Kafka refuses, and two topic variables naming one topic', () => {
    const topics = { ALERTS: field.topic('alerts topic', 'alerts.v1'), REJECTED: field.topic('dead letters', 'rejected.v1') }
    expect(readConfig(topics, {})).toEqual({ ok: true, value: { ALERTS: 'alerts.v1', REJECTED: 'rejected.v1' } })
    for (const bad of ['same topic!', '..', 'a/b', 'x'.repeat(250)]) {
      const r = readConfig(topics, { ALERTS: bad })
      expect(r.ok ? [] : r.errors).toEqual([expect.stringMatching(/^ALERTS must be a Kafka topic name/)])
    }
    const same = readConfig(topics, { REJECTED: 'alerts.v1' })
    expect(same.ok ? [] : same.errors).toEqual([expect.stringMatching(/^REJECTED names the same topic as ALERTS, "alerts.v1"/)])
  })

  it('refuses brokers without a port, and a size below its minimum', () => {
    const brokers = { BROKERS: field.brokers('brokers', ['127.0.0.1:9092']), LIMIT: field.bytes('body limit', 1024 * 1024) }
    expect(readConfig(brokers, { BROKERS: 'kafka-1:9092, [::1]:9093' })).toEqual({ ok: true, value: { BROKERS: ['kafka-1:9092', '[::1]:9093'], LIMIT: 1024 * 1024 } })
    const r = readConfig(brokers, { BROKERS: 'localhost,::1:x,k:0,k:9092', LIMIT: '0' })
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(/^BROKERS must be host:port, each port 1-65535 \(an IPv6 host in brackets\), got "localhost", "::1:x", "k:0" /),
      expect.stringMatching(/^LIMIT must be at least 1024 bytes, got "0"/),
    ])
  })
})

describe('an integer', () => {
  it('is written in decimal digits: hex, binary, exponents and decimals are refused, not read as another number', () => {
    const ints = { PORT: field.port('listen port', 8080), N: field.int('partitions', 6, { min: 1 }) }
    expect(readConfig(ints, { PORT: '9090', N: '+12' })).toEqual({ ok: true, value: { PORT: 9090, N: 12 } })
    for (const bad of ['0x1F90', '1e3', '0b11', '0o17', '8080.0', '80 80']) {
      const r = readConfig(ints, { PORT: bad })
      expect(r.ok ? [] : r.errors).toEqual([`PORT must be an integer, got ${JSON.stringify(bad)} (listen port)`])
    }
    const huge = readConfig(ints, { N: '99999999999999999999' })
    expect(huge.ok ? [] : huge.errors).toEqual([expect.stringMatching(/^N must be an integer, got "99999999999999999999"/)])
  })
})

describe('a port', () => {
  it('is 1 to 65535: 0 would listen on a port the system picks, which no sender is told', () => {
    const ports = { PORT: field.port('listen port', 8080) }
    expect(readConfig(ports, { PORT: '1' })).toEqual({ ok: true, value: { PORT: 1 } })
    expect(readConfig(ports, { PORT: '65535' })).toEqual({ ok: true, value: { PORT: 65535 } })
    for (const [bad, error] of [['0', 'PORT must be >= 1, got 0 (listen port)'], ['65536', 'PORT must be <= 65535, got 65536 (listen port)'], ['-1', 'PORT must be >= 1, got -1 (listen port)']]) {
      const r = readConfig(ports, { PORT: bad })
      expect(r.ok ? [] : r.errors).toEqual([error])
    }
  })
})

describe('a URL', () => {
  it('is http or https: host:port without a scheme, and other schemes, are refused at start', () => {
    const urls = { ES: field.url('Elasticsearch URL', 'http://127.0.0.1:9200') }
    expect(readConfig(urls, { ES: 'https://es.internal:9200' })).toEqual({ ok: true, value: { ES: 'https://es.internal:9200' } })
    for (const bad of ['localhost:9200', 'es.internal:9200', 'ftp://es.internal', 'file:///etc/passwd']) {
      const r = readConfig(urls, { ES: bad })
      expect(r.ok ? [] : r.errors).toEqual([`ES must be an http or https URL, got ${JSON.stringify(bad)} (Elasticsearch URL)`])
    }
  })
})

describe('a URL an error quotes', () => {
  it('leaves out the user and password before @, so a typo does not put the password in the logs', () => {
    const r = readConfig({ ES: field.url('es') }, { ES: 'https://elastic:S3cretPw@es.internal:92000' })
    expect(r.ok ? [] : r.errors).toEqual(['ES must be an http or https URL, got "https://…@es.internal:92000" (es)'])
  })
})
