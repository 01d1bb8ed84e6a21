import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { elasticsearchConnectionSpec, field, kafkaConnectionSpec, readConfig } from './index.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'config-connections-'))
function file(name: string, text: string): string {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const ca = file('ca.pem', PEM)
const spec = { OPSREVIEW_KAFKA_BROKERS: field.list('brokers', ['127.0.0.1:9092']), ...kafkaConnectionSpec, OPSREVIEW_ES_URL: field.url('es', 'http://127.0.0.1:9200'), ...elasticsearchConnectionSpec }

function errorsOf(env: Record<string, string>): string[] {
  const r = readConfig(spec, env)
  return r.ok ? [] : r.errors
}

describe('kafka connection settings', () => {
  it('defaults to plaintext without SASL', () => {
    const r = readConfig(spec, {})
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_KAFKA_SSL: false, OPSREVIEW_KAFKA_SSL_CA: undefined, OPSREVIEW_KAFKA_SASL_MECHANISM: undefined, OPSREVIEW_KAFKA_SASL_USERNAME: '', OPSREVIEW_KAFKA_SASL_PASSWORD: '' })
  })

  it('turns TLS on with a CA file, whose content it reads at start', () => {
    const r = readConfig(spec, { OPSREVIEW_KAFKA_SSL_CA: ca })
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_KAFKA_SSL: true, OPSREVIEW_KAFKA_SSL_CA: PEM })
    const system = readConfig(spec, { OPSREVIEW_KAFKA_SSL: 'true' })
    expect(system.ok && system.value).toMatchObject({ OPSREVIEW_KAFKA_SSL: true, OPSREVIEW_KAFKA_SSL_CA: undefined })
  })

  it('takes SASL mechanisms in either case, with credentials from variables or files', () => {
    const r = readConfig(spec, { OPSREVIEW_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', OPSREVIEW_KAFKA_SASL_USERNAME: 'opsreview', OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: file('password', 's3cret\n') })
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_KAFKA_SASL_MECHANISM: 'scram-sha-512', OPSREVIEW_KAFKA_SASL_USERNAME: 'opsreview', OPSREVIEW_KAFKA_SASL_PASSWORD: 's3cret' })
    const plain = readConfig(spec, { OPSREVIEW_KAFKA_SASL_MECHANISM: 'plain', OPSREVIEW_KAFKA_SASL_USERNAME_FILE: file('user', ' alice '), OPSREVIEW_KAFKA_SASL_PASSWORD: 'pw' })
    expect(plain.ok && plain.value).toMatchObject({ OPSREVIEW_KAFKA_SASL_MECHANISM: 'plain', OPSREVIEW_KAFKA_SASL_USERNAME: 'alice', OPSREVIEW_KAFKA_SASL_PASSWORD: 'pw' })
  })

  it('lists every fault at once, each naming its variable, never quoting a secret', () => {
    const errors = errorsOf({
      OPSREVIEW_KAFKA_SSL_CA: '/nonexistent/ca.pem',
      OPSREVIEW_KAFKA_SASL_MECHANISM: 'gssapi',
      OPSREVIEW_KAFKA_SASL_PASSWORD: 'hunter2',
      OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: file('pw2', 'hunter3'),
    })
    expect(errors).toEqual([
      expect.stringMatching(/^OPSREVIEW_KAFKA_SSL_CA \/nonexistent\/ca\.pem cannot be read: no such file/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512, got "gssapi"/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_USERNAME is required with OPSREVIEW_KAFKA_SASL_MECHANISM/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_PASSWORD and OPSREVIEW_KAFKA_SASL_PASSWORD_FILE are both set: give one/),
    ])
    expect(errors.join('\n')).not.toMatch(/hunter/)
  })

  it('refuses a mechanism without credentials, credentials without a mechanism, and a CA file with TLS off', () => {
    expect(errorsOf({ OPSREVIEW_KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toEqual([
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_USERNAME is required with OPSREVIEW_KAFKA_SASL_MECHANISM/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_PASSWORD is required with OPSREVIEW_KAFKA_SASL_MECHANISM/),
    ])
    expect(errorsOf({ OPSREVIEW_KAFKA_SASL_USERNAME: 'u', OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: file('pw3', 'p') })).toEqual([
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_MECHANISM is required when OPSREVIEW_KAFKA_SASL_USERNAME and OPSREVIEW_KAFKA_SASL_PASSWORD are set/),
    ])
    expect(errorsOf({ OPSREVIEW_KAFKA_SSL: 'false', OPSREVIEW_KAFKA_SSL_CA: ca })).toEqual([expect.stringMatching(/^OPSREVIEW_KAFKA_SSL is false but OPSREVIEW_KAFKA_SSL_CA is set/)])
    expect(errorsOf({ OPSREVIEW_KAFKA_SSL: 'yes' })).toEqual([expect.stringMatching(/^OPSREVIEW_KAFKA_SSL must be true or false, got "yes"/)])
  })

  it('refuses a CA file that holds no certificate, an empty secret file and a missing one', () => {
    expect(errorsOf({
      OPSREVIEW_KAFKA_SSL_CA: file('not-a-ca.pem', 'hello'),
      OPSREVIEW_KAFKA_SASL_MECHANISM: 'plain',
      OPSREVIEW_KAFKA_SASL_USERNAME_FILE: file('empty', '\n'),
      OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: '/nonexistent/password',
    })).toEqual([
      expect.stringMatching(/^OPSREVIEW_KAFKA_SSL_CA .*not-a-ca\.pem holds no PEM certificate/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_USERNAME \(from OPSREVIEW_KAFKA_SASL_USERNAME_FILE=.*empty\) is empty/),
      expect.stringMatching(/^OPSREVIEW_KAFKA_SASL_PASSWORD \(from OPSREVIEW_KAFKA_SASL_PASSWORD_FILE=\/nonexistent\/password\) cannot be read: no such file/),
    ])
  })
})

describe('replication of the topics a service creates', () => {
  it("leaves both to the broker's defaults unless set", () => {
    const r = readConfig(spec, {})
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: undefined, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: undefined })
    const set = readConfig(spec, { OPSREVIEW_KAFKA_REPLICATION_FACTOR: '3', OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: '2' })
    expect(set.ok && set.value).toMatchObject({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: 3, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: 2 })
  })

  it('refuses a count that is not a positive integer, and more in sync than there are copies', () => {
    const bad = errorsOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: '0', OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: 'two' })
    expect(bad).toHaveLength(2)
    expect(bad[0]).toMatch(/^OPSREVIEW_KAFKA_REPLICATION_FACTOR must be >= 1, got 0/)
    expect(bad[1]).toMatch(/^OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS must be an integer, got "two"/)
    const more = errorsOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: '2', OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: '3' })
    expect(more).toHaveLength(1)
    expect(more[0]).toMatch(/^OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS must not exceed OPSREVIEW_KAFKA_REPLICATION_FACTOR \(2\), got 3: no write would be acknowledged/)
  })
})

describe('elasticsearch connection settings', () => {
  it('defaults to no API key and the system CAs', () => {
    const r = readConfig(spec, {})
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_ES_API_KEY: '', OPSREVIEW_ES_CA: undefined })
  })

  it('reads the API key from the variable or its file, and the CA with an https URL', () => {
    const r = readConfig(spec, { OPSREVIEW_ES_URL: 'https://es.internal:9200', OPSREVIEW_ES_API_KEY_FILE: file('api-key', 'VnVhQ2ZHY0JDZGJrU==\n'), OPSREVIEW_ES_CA: ca })
    expect(r.ok && r.value).toMatchObject({ OPSREVIEW_ES_API_KEY: 'VnVhQ2ZHY0JDZGJrU==', OPSREVIEW_ES_CA: PEM })
  })

  it('refuses a CA with an http URL, a missing CA file, and both key sources', () => {
    expect(errorsOf({ OPSREVIEW_ES_CA: ca, OPSREVIEW_ES_API_KEY: 'k', OPSREVIEW_ES_API_KEY_FILE: file('k2', 'k') })).toEqual([
      expect.stringMatching(/^OPSREVIEW_ES_API_KEY and OPSREVIEW_ES_API_KEY_FILE are both set/),
      expect.stringMatching(/^OPSREVIEW_ES_CA is set but OPSREVIEW_ES_URL is not https \(http:\/\/127\.0\.0\.1:9200\)/),
    ])
    expect(errorsOf({ OPSREVIEW_ES_URL: 'https://es:9200', OPSREVIEW_ES_CA: '/nonexistent/es-ca.pem' })).toEqual([
      expect.stringMatching(/^OPSREVIEW_ES_CA \/nonexistent\/es-ca\.pem cannot be read: no such file/),
    ])
  })
})
