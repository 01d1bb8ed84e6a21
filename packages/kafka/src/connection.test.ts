import { describe, expect, it } from 'vitest'
import { describeKafkaConnection, kafkaConnectionOptions, type KafkaConnectionConfig } from './connection.ts'

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
