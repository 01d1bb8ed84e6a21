/**
 * The variables of production connections: Kafka over TLS with SASL, Elasticsearch with an API key and a
 * private CA. Every service and command spreads these specs into its own, beside OPSREVIEW_KAFKA_BROKERS and
 * OPSREVIEW_ES_URL, so one deployment's settings mean the same everywhere (docs/production-connections.md).
 *
 * Files (CAs, `…_FILE` secrets) are read here, once at start: a missing or unreadable one is a config error
 * listed with the others, not a failed connection minutes later. No error quotes a secret.
 */
import { readFileSync } from 'node:fs'
import { fail, integer, ok } from './parse.ts'
import type { Env, Field, Parsed } from './types.ts'

export const kafkaSaslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const
export type KafkaSaslMechanism = (typeof kafkaSaslMechanisms)[number]

const isSet = (raw: string | undefined): raw is string => raw !== undefined && raw.trim() !== ''

function readText(path: string): { ok: true; text: string } | { ok: false; reason: string } {
  try {
    return { ok: true, text: readFileSync(path, 'utf8') }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message)
    return { ok: false, reason }
  }
}

/** Whether the variable or its `…_FILE` twin is set (for settings that depend on a secret being given). */
const secretGiven = (env: Env, name: string): boolean => isSet(env[name]) || isSet(env[`${name}_FILE`])

/**
 * A secret from `NAME` or from the file `NAME_FILE` names (its content trimmed, as Docker and Kubernetes
 * secrets end in a newline). Both set is an error: which one wins would be a guess. Unset: ''.
 */
function secretOf(env: Env, name: string): Parsed<string> {
  const direct = env[name]
  const file = env[`${name}_FILE`]
  if (isSet(direct) && isSet(file)) return fail(`and ${name}_FILE are both set: give one`)
  if (!isSet(file)) return ok(direct?.trim() ?? '')
  const r = readText(file.trim())
  if (!r.ok) return fail(`(from ${name}_FILE=${file.trim()}) cannot be read: ${r.reason}`)
  const value = r.text.trim()
  return value === '' ? fail(`(from ${name}_FILE=${file.trim()}) is empty`) : ok(value)
}

/** A PEM file of one or more CA certificates, read at start; its content, or undefined when unset. */
function caFileOf(raw: string | undefined): Parsed<string | undefined> {
  if (!isSet(raw)) return ok(undefined)
  const path = raw.trim()
  const r = readText(path)
  if (!r.ok) return fail(`${path} cannot be read: ${r.reason}`)
  if (!r.text.includes('-----BEGIN CERTIFICATE-----')) return fail(`${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return ok(r.text)
}

const MECHANISM = 'OPSREVIEW_KAFKA_SASL_MECHANISM'
const USERNAME = 'OPSREVIEW_KAFKA_SASL_USERNAME'
const PASSWORD = 'OPSREVIEW_KAFKA_SASL_PASSWORD'

/** A SASL credential: required with a mechanism, refused without one (it would be silently unused). */
function saslCredential(doc: string): Field<string> {
  return {
    doc,
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: (env, name) => {
      const r = secretOf(env, name)
      if (!r.ok) return r
      if (isSet(env[MECHANISM]) && r.value === '') return fail(`is required with ${MECHANISM} set`)
      return r
    },
  }
}

export const kafkaConnectionSpec = {
  OPSREVIEW_KAFKA_SSL: {
    doc: 'TLS to the brokers: true or false; unset: true when OPSREVIEW_KAFKA_SSL_CA is set; true without a CA file trusts the system CAs',
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: (env, name) => {
      const raw = env[name]?.trim().toLowerCase()
      const ca = isSet(env.OPSREVIEW_KAFKA_SSL_CA)
      if (raw === undefined || raw === '') return ok(ca)
      if (raw !== 'true' && raw !== 'false') return fail(`must be true or false, got ${JSON.stringify(env[name])}`)
      if (raw === 'false' && ca) return fail('is false but OPSREVIEW_KAFKA_SSL_CA is set: unset one of them')
      return ok(raw === 'true')
    },
  } satisfies Field<boolean>,
  OPSREVIEW_KAFKA_SSL_CA: {
    doc: 'PEM file of the CA(s) that signed the brokers\' certificates; set, it turns TLS on',
    parse: caFileOf,
  } satisfies Field<string | undefined>,
  OPSREVIEW_KAFKA_SASL_MECHANISM: {
    doc: `SASL mechanism: ${kafkaSaslMechanisms.join(', ')}; unset: no SASL`,
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: (env, name) => {
      const raw = env[name]
      if (!isSet(raw)) {
        // Credentials without a mechanism would connect unauthenticated, which the broker may even accept.
        const given = [USERNAME, PASSWORD].filter((n) => secretGiven(env, n))
        return given.length > 0 ? fail(`is required when ${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} set`) : ok(undefined)
      }
      // Kafka's own names are upper case (SCRAM-SHA-512); kafkajs wants lower case.
      const m = raw.trim().toLowerCase()
      return (kafkaSaslMechanisms as readonly string[]).includes(m)
        ? ok(m as KafkaSaslMechanism)
        : fail(`must be one of ${kafkaSaslMechanisms.join(', ')}, got ${JSON.stringify(raw.trim())}`)
    },
  } satisfies Field<KafkaSaslMechanism | undefined>,
  OPSREVIEW_KAFKA_SASL_USERNAME: saslCredential('SASL user name, or OPSREVIEW_KAFKA_SASL_USERNAME_FILE naming a file of it'),
  OPSREVIEW_KAFKA_SASL_PASSWORD: saslCredential('SASL password, or OPSREVIEW_KAFKA_SASL_PASSWORD_FILE naming a file of it'),
  OPSREVIEW_KAFKA_REPLICATION_FACTOR: {
    doc: "copies of each partition of the topics a service creates; unset: the broker's default.replication.factor",
    parse: (raw) => positiveIntOrUnset(raw),
  } satisfies Field<number | undefined>,
  OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: {
    doc: "min.insync.replicas of the topics a service creates (every produce is acks=all); unset: the broker's default",
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: (env, name) => {
      const r = positiveIntOrUnset(env[name])
      const copies = positiveIntOrUnset(env[REPLICATION])
      // More in sync than there are copies, and no write to those topics is ever acknowledged.
      if (r.ok && r.value !== undefined && copies.ok && copies.value !== undefined && r.value > copies.value) {
        return fail(`must not exceed ${REPLICATION} (${copies.value}), got ${r.value}: no write would be acknowledged`)
      }
      return r
    },
  } satisfies Field<number | undefined>,
}

const REPLICATION = 'OPSREVIEW_KAFKA_REPLICATION_FACTOR'

function positiveIntOrUnset(raw: string | undefined): Parsed<number | undefined> {
  return isSet(raw) ? integer(raw.trim(), { min: 1 }) : ok(undefined)
}

export const elasticsearchConnectionSpec = {
  OPSREVIEW_ES_API_KEY: {
    doc: 'Elasticsearch API key, the base64 "encoded" value of the create-API-key answer, or OPSREVIEW_ES_API_KEY_FILE naming a file of it; unset: no authentication',
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: secretOf,
  } satisfies Field<string>,
  OPSREVIEW_ES_CA: {
    doc: 'PEM file of the CA(s) that signed the Elasticsearch certificate; unset: the system CAs',
    parse: () => fail('needs the whole environment (readConfig)'),
    parseEnv: (env, name) => {
      const r = caFileOf(env[name])
      if (!r.ok || r.value === undefined) return r
      // The CA only applies to https: with an http URL it would be silently unused.
      const url = env.OPSREVIEW_ES_URL?.trim() || 'http://127.0.0.1:9200'
      return url.startsWith('https:') ? r : fail(`is set but OPSREVIEW_ES_URL is not https (${url})`)
    },
  } satisfies Field<string | undefined>,
}
