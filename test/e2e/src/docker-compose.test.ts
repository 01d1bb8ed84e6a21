// infra/docker-compose.yml cannot be run here (no Docker engine), so this checks what can be checked
// without it: every service runs a main.ts that exists, and each service's own config accepts the
// environment the file gives it, so a renamed or mistyped variable fails here rather than in a container.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readConfig, type Spec } from '@opsreview/config'
import { correlatorConfigSpec } from '../../../services/correlator/src/config.ts'
import { indexerConfigSpec } from '../../../services/indexer/src/config.ts'
import { receiverConfigSpec } from '../../../services/receiver/src/config.ts'
import { reviewConfigSpec } from '../../../services/review/src/config.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface ComposeService { command?: string; environment?: Record<string, string | number>; depends_on?: Record<string, { condition: string }>; volumes?: string[] }
const compose = parse(readFileSync(path.join(repo, 'infra/docker-compose.yml'), 'utf8')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> }

const specs: Record<string, Spec> = { receiver: receiverConfigSpec, correlator: correlatorConfigSpec, indexer: indexerConfigSpec, review: reviewConfigSpec }

/** `${NAME:?message}` and `${NAME:-default}` as compose would fill them, with a stand-in for required ones. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_]+)(?::([?-])([^}]*))?\}/g, (_, name: string, kind: string | undefined, rest: string) => (kind === '-' ? rest : `${name.toLowerCase()}-secret`))
}

describe('infra/docker-compose.yml', () => {
  it('runs all four services from their main.ts after the shared install step', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['kafka', 'elasticsearch', 'install', ...Object.keys(specs)]))
    for (const name of Object.keys(specs)) {
      const s = compose.services[name]!
      const main = /services\/[a-z]+\/src\/main\.ts/.exec(s.command ?? '')?.[0]
      expect(main, name).toBe(`services/${name}/src/main.ts`)
      expect(existsSync(path.join(repo, main!)), main).toBe(true)
      expect(s.depends_on?.install?.condition, name).toBe('service_completed_successfully')
    }
  })

  it("gives each service an environment its own config accepts", () => {
    for (const [name, spec] of Object.entries(specs)) {
      const env = Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]))
      for (const variable of Object.keys(env)) expect(Object.keys(spec), `${name} reads ${variable}`).toContain(variable)
      const r = readConfig(spec, env)
      expect(r.ok ? [] : r.errors, name).toEqual([])
    }
  })

  it('keeps the Kafka log and the receiver spool on volumes', () => {
    const kafka = compose.services.kafka!
    const logDir = String(kafka.environment?.KAFKA_LOG_DIRS)
    expect(kafka.volumes?.some((v) => v.startsWith('kafka-data:') && v.endsWith(`:${logDir}`))).toBe(true)
    const spool = String(compose.services.receiver!.environment?.OPSREVIEW_SPOOL_DIR)
    expect(compose.services.receiver!.volumes?.some((v) => v.endsWith(`:${spool}`) && !v.startsWith('..'))).toBe(true)
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['kafka-data', 'receiver-spool', 'es-data']))
  })
})
