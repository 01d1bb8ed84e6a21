// What a service does with a signal or a dependency down before it is up, and with a second signal while it
// stops: real processes, as a supervisor sees them (exit code, log lines).
import { request } from 'node:http'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { uniqueName, waitFor } from '@opsreview/testing'
import { freePort, spawnService, startService } from './processes.ts'

/** A broker address nothing listens on: a service connecting to it keeps trying. */
const deadBroker = async () => `127.0.0.1:${await freePort()}`

describe('a service before it is up', () => {
  it.each([
    ['correlator', { OPSREVIEW_CORRELATOR_GROUP: uniqueName('signal-correlator') }],
    ['indexer', { OPSREVIEW_INDEXER_GROUP: uniqueName('signal-indexer') }],
  ] as const)('%s: a SIGTERM while it connects ends it at once, exit 0, saying so', async (service, env) => {
    const p = spawnService(service, { ...env, OPSREVIEW_KAFKA_BROKERS: await deadBroker(), [`OPSREVIEW_${service.toUpperCase()}_PORT`]: String(await freePort()) })
    // It is still connecting: kafkajs has logged a failed attempt.
    await waitFor(() => (p.logs.some((l) => String(l.msg ?? '').includes('Connection error') || String(l.error ?? '').includes('ECONNREFUSED')) ? true : undefined), { timeoutMs: 30_000, what: `${service} trying to connect` })
    expect(await p.stop()).toBe(0)
    expect(p.logs.filter((l) => l.msg === 'signal while starting: exiting')).toMatchObject([{ signal: 'SIGTERM', level: 'info' }])
  })

  it('review: Elasticsearch down at start is logged as JSON, fatal, and the process exits 1', async () => {
    const p = spawnService('review', {
      OPSREVIEW_ES_URL: `http://127.0.0.1:${await freePort()}`, OPSREVIEW_REVIEW_PORT: String(await freePort()),
      OPSREVIEW_READ_TOKENS: 'read-token', OPSREVIEW_WRITE_TOKENS: 'write-token',
    })
    const [code] = await once(p.child, 'exit') as [number | null]
    expect(code).toBe(1)
    const fatal = p.logs.filter((l) => l.level === 'fatal')
    expect(fatal).toMatchObject([{ msg: 'uncaught error: exiting', service: 'review' }])
    expect(JSON.stringify(fatal[0]!.err)).toContain('ECONNREFUSED')
  })
})

describe('a service shutting down', () => {
  it('review: a second SIGTERM while a request holds the shutdown exits at once, 1, saying so', async () => {
    const port = await freePort()
    const p = await startService('review', { OPSREVIEW_REVIEW_PORT: String(port), OPSREVIEW_READ_TOKENS: 'read-token', OPSREVIEW_WRITE_TOKENS: 'write-token', OPSREVIEW_WAIT_TIMEOUT: '60s' }, 'review listening')
    // A request whose body never ends: the shutdown waits for it (up to OPSREVIEW_WAIT_TIMEOUT + 5 s).
    const held = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/incidents/inc-000000000000000000000001/notes', headers: { authorization: 'Bearer write-token', 'content-type': 'application/json', 'content-length': '100' } })
    held.on('error', () => undefined)
    held.write('{"text":')
    await waitFor(() => (held.socket?.readyState === 'open' ? true : undefined), { what: 'the held request sent' })
    p.child.kill('SIGTERM')
    await waitFor(() => (p.logs.some((l) => l.msg === 'shutting down: finishing in-flight requests') ? true : undefined), { what: 'the shutdown begun' })
    expect(p.child.exitCode).toBeNull()
    p.child.kill('SIGTERM')
    const [code] = await once(p.child, 'exit') as [number | null]
    expect(code).toBe(1)
    expect(p.logs.filter((l) => l.msg === 'second signal while shutting down: exiting now, without finishing')).toMatchObject([{ signal: 'SIGTERM', level: 'warn' }])
  })
})
