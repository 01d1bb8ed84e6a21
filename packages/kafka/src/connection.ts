/**
 * The kafkajs connection options (brokers, TLS, SASL) of the validated configuration: every service and
 * command builds its client with these, so a deployment's TLS and SASL settings apply everywhere alike.
 * The variables are parsed and their files read by @opsreview/config (kafkaConnectionSpec);
 * docs/production-connections.md describes them.
 */
import type { KafkaConfig, SASLOptions } from 'kafkajs'

/** The mechanisms opsreview offers: kafkajs's user-and-password ones. */
export type KafkaPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

/** The part of a service's validated configuration this reads (the shape kafkaConnectionSpec yields). */
export interface KafkaConnectionConfig {
  readonly OPSREVIEW_KAFKA_BROKERS: readonly string[]
  readonly OPSREVIEW_KAFKA_SSL: boolean
  /** PEM content of the CA file, not its path. */
  readonly OPSREVIEW_KAFKA_SSL_CA: string | undefined
  readonly OPSREVIEW_KAFKA_SASL_MECHANISM: KafkaPasswordMechanism | undefined
  readonly OPSREVIEW_KAFKA_SASL_USERNAME: string
  readonly OPSREVIEW_KAFKA_SASL_PASSWORD: string
}

export type KafkaConnectionOptions = Required<Pick<KafkaConfig, 'brokers'>> & Pick<KafkaConfig, 'ssl' | 'sasl'>

export function kafkaConnectionOptions(c: KafkaConnectionConfig): KafkaConnectionOptions {
  // ssl: true is Node's default verification against the system CAs; with a CA file, only that file is
  // trusted. Host names are verified either way (kafkajs passes the broker host as servername).
  const ssl = !c.OPSREVIEW_KAFKA_SSL ? undefined : c.OPSREVIEW_KAFKA_SSL_CA === undefined ? true : { ca: [c.OPSREVIEW_KAFKA_SSL_CA] }
  const mechanism = c.OPSREVIEW_KAFKA_SASL_MECHANISM
  const sasl: SASLOptions | undefined = mechanism === undefined
    ? undefined
    : { mechanism, username: c.OPSREVIEW_KAFKA_SASL_USERNAME, password: c.OPSREVIEW_KAFKA_SASL_PASSWORD }
  return { brokers: [...c.OPSREVIEW_KAFKA_BROKERS], ...(ssl === undefined ? {} : { ssl }), ...(sasl === undefined ? {} : { sasl }) }
}

/** For the start log: how the service connects, without the secrets. */
export function describeKafkaConnection(c: KafkaConnectionConfig): { brokers: readonly string[]; tls: 'off' | 'system CAs' | 'CA file'; sasl: string } {
  return {
    brokers: c.OPSREVIEW_KAFKA_BROKERS,
    tls: !c.OPSREVIEW_KAFKA_SSL ? 'off' : c.OPSREVIEW_KAFKA_SSL_CA === undefined ? 'system CAs' : 'CA file',
    sasl: c.OPSREVIEW_KAFKA_SASL_MECHANISM === undefined ? 'off' : `${c.OPSREVIEW_KAFKA_SASL_MECHANISM} as ${c.OPSREVIEW_KAFKA_SASL_USERNAME}`,
  }
}
