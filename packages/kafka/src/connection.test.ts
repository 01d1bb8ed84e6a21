import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSSASLAuthenticationError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { connectProducer, describeKafkaConnection, kafkaConnectionOptions, type KafkaConnectionConfig } from './connection.ts'
import { KafkaUnavailableError } from './errors.ts'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const plaintext: KafkaConnectionConfig = {
  OPSREVIEW_KAFKA_BROKERS: ['b1:9092', 'b2:9092'], OPSREVIEW_KAFKA_SSL: false, OPSREVIEW_KAFKA_SSL_CA: undefined,
  OPSREVIEW_KAFKA_SASL_MECHANISM: undefined, OPSREVIEW_KAFKA_SASL_USERNAME: '', OPSREVIEW_KAFKA_SASL_PASSWORD: '',
}

describe('kafkaConnectionOptions', () => {
  it('gives brokers only, without TLS or SASL, by default', () => {
    expect(kafkaConnectionOptions(plaintext)).toEqual({ brokers: ['b1:9092', 'b2:9092'] })
  })

  it('trusts only the CA file with one, and the system CAs with TLS and none', () => {
    expect(kafkaConnectionOptions({ ...plaintext, OPSREVIEW_KAFKA_SSL: true, OPSREVIEW_KAFKA_SSL_CA: PEM })).toEqual({ brokers: ['b1:9092', 'b2:9092'], ssl: { ca: [PEM] } })
    expect(kafkaConnectionOptions({ ...plaintext, OPSREVIEW_KAFKA_SSL: true })).toEqual({ brokers: ['b1:9092', 'b2:9092'], ssl: true })
  })

  it('passes the SASL mechanism and credentials as kafkajs wants them', () => {
    const c = { ...plaintext, OPSREVIEW_KAFKA_SSL: true, OPSREVIEW_KAFKA_SSL_CA: PEM, OPSREVIEW_KAFKA_SASL_MECHANISM: 'scram-sha-512', OPSREVIEW_KAFKA_SASL_USERNAME: 'opsreview', OPSREVIEW_KAFKA_SASL_PASSWORD: 'pw' } as const
    expect(kafkaConnectionOptions(c)).toEqual({ brokers: ['b1:9092', 'b2:9092'], ssl: { ca: [PEM] }, sasl: { mechanism: 'scram-sha-512', username: 'opsreview', password: 'pw' } })
    expect(describeKafkaConnection(c)).toEqual({ brokers: ['b1:9092', 'b2:9092'], tls: 'CA file', sasl: 'scram-sha-512 as opsreview' })
    expect(JSON.stringify(describeKafkaConnection(c))).not.toContain('pw')
  })
})

describe('connectProducer', () => {
  /** A producer whose connect fails with each of `failures` in turn, then succeeds. */
  const failing = (...failures: Error[]) => {
    let calls = 0
    const events: string[] = []
    return {
      get calls() { return calls }, events,
      connect: async () => { events.push('connect'); const err = failures[calls++]; if (err) throw err },
      disconnect: async () => { events.push('disconnect') },
    }
  }
  const noSleep = { sleep: async () => undefined }

  it('connects again after a connection error, as when the producer id was asked of a dead node', async () => {
    const producer = failing(new KafkaJSConnectionError('connect ECONNREFUSED 127.0.0.1:33246'), new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error'), { retryCount: 5, retryTime: 3000 }))
    const retried: number[] = []
    await connectProducer(producer, { ...noSleep, onRetry: (_err, attempt) => retried.push(attempt) })
    expect(producer.calls).toBe(3)
    expect(retried).toEqual([1, 2])
    // Disconnected between attempts: kafkajs's cached metadata, which named the dead node, goes with it.
    expect(producer.events).toEqual(['connect', 'disconnect', 'connect', 'disconnect', 'connect'])
  })

  it('connects again after our own KafkaUnavailableError, as a publisher whose producer was replaced meanwhile throws', async () => {
    const producer = failing(new KafkaUnavailableError('kafka producer connected after it was replaced'))
    await connectProducer(producer, noSleep)
    expect(producer.calls).toBe(2)
  })

  it('throws a refused login at once', async () => {
    // kafkajs's types give this class no constructor arguments; it takes the message as its others do.
    const refused = Reflect.construct(KafkaJSSASLAuthenticationError, ['SASL SCRAM SHA512 authentication failed']) as Error
    const producer = failing(refused)
    await expect(connectProducer(producer, noSleep)).rejects.toBe(refused)
    expect(producer.events).toEqual(['connect', 'disconnect'])
  })

  it('gives up with the last error once the time is up', async () => {
    const errors = Array.from({ length: 50 }, (_, i) => new KafkaJSConnectionError(`attempt ${i + 1}`))
    const producer = failing(...errors)
    const waits: number[] = []
    await expect(connectProducer(producer, { timeoutMs: 0, sleep: async (ms) => { waits.push(ms) } })).rejects.toBe(errors[0])
    expect(waits).toEqual([])
    // Left disconnected, so that the caller's own next attempt fetches fresh metadata.
    expect(producer.events).toEqual(['connect', 'disconnect'])
  })

  it('waits longer after each failure, up to 2 s', async () => {
    const producer = failing(...Array.from({ length: 6 }, () => new KafkaJSConnectionError('down')))
    const waits: number[] = []
    await connectProducer(producer, { sleep: async (ms) => { waits.push(ms) } })
    expect(waits).toEqual([250, 500, 1000, 2000, 2000, 2000])
  })
})
