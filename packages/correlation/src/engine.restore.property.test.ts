// A correlator restarts from its latest snapshot, which it takes between any two inputs: an engine restored
// from a snapshot after any input must go on exactly as the live one. Here over the retention's edge cases,
// where two helpers' reviews found live and restored engines parting (2026-12-05): a retention of hours,
// incidents kept for their post-mortems under a small cap, resolves by hand stamped ahead, late events,
// reopens, and the review's decisions on incidents the retention reached.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { CorrelationConfig } from './config.ts'
import type { AlertEvent, Command, EngineInput } from './types.ts'

const T0 = Date.parse('2026-11-30T08:00:00.000Z')
const MIN = 60_000
const iso = (ms: number) => new Date(ms).toISOString()

/** xorshift32: the same inputs for a seed on every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >> 17; x ^= x << 5; x >>>= 0; return x / 4294967296 }
}

/**
 * `n` inputs: alerts of three services (two alert names critical, so long incidents require post-mortems),
 * a fifth of them late; ticks, some hours apart so the retention passes incidents; and decisions on the
 * incidents seen so far, stamped up to two minutes either side of the input's clock.
 */
function inputsOf(seed: number, n: number, config: Partial<CorrelationConfig>): EngineInput[] {
  const r = random(seed)
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!
  const engine = new CorrelationEngine({ allowedLatenessMs: 0, ...config })
  const inputs: EngineInput[] = []
  const incidents = new Set<string>()
  const problems = new Set<string>()
  let now = T0
  for (let i = 0; i < n; i++) {
    const k = r()
    let input: EngineInput
    if (k < 0.5) {
      now += Math.floor(r() * 20) * MIN
      const name = pick(['a', 'b', 'c', 'd'])
      const service = pick(['checkout', 'search', 'auth'])
      const firing = r() < 0.55
      const t = now - (r() < 0.2 ? Math.floor(r() * 120) * MIN : 0)
      const fingerprint = `${name}-${service}`
      const event: AlertEvent = {
        id: createHash('sha256').update(`${fingerprint}|${firing}|${t}`).digest('hex').slice(0, 32), source: 'alertmanager', fingerprint,
        status: firing ? 'firing' : 'resolved', severity: name === 'a' || name === 'b' ? 'critical' : 'warning', service, environment: 'production',
        title: fingerprint, labels: { alertname: name, host: pick(['h1', 'h2']) }, startsAt: iso(firing ? t : t - Math.floor(r() * 60) * MIN),
        receivedAt: iso(now), links: [], origin: {},
      }
      if (!firing) event.endsAt = iso(t)
      input = { type: 'alert', event }
    } else if (k < 0.7 || incidents.size === 0) {
      now += Math.floor(r() * (r() < 0.3 ? 600 : 60)) * MIN
      input = { type: 'tick', at: iso(now) }
    } else {
      const type = pick(['incident.note', 'incident.assign', 'incident.schedule-postmortem', 'incident.schedule-postmortem', 'incident.resolve', 'incident.acknowledge', 'incident.link-problem'] as const)
      const command: Command = { id: `c${seed}-${i}`, type, target: pick([...incidents]), environment: 'production', actor: 'dana', at: iso(now + (Math.floor(r() * 5) - 2) * MIN) }
      if (type === 'incident.note') command.text = 'noted'
      if (type === 'incident.assign') command.owner = 'erin'
      if (type === 'incident.schedule-postmortem') command.scheduledFor = '2026-12-31T10:00:00Z'
      if (type === 'incident.link-problem') command.problemId = problems.size > 0 ? pick([...problems]) : 'prb-none'
      input = { type: 'command', command }
    }
    inputs.push(input)
    for (const o of engine.apply(input)) {
      if (o.type === 'incident') incidents.add(o.incident.id)
      if (o.type === 'problem') problems.add(o.problem.id)
    }
  }
  return inputs
}

/** Every output from input `restoreAt` on, and the incidents at the end, of an engine restored just before that input (-1: never). */
function run(config: Partial<CorrelationConfig>, inputs: readonly EngineInput[], restoreAt: number): { outputs: string[]; incidents: string } {
  const full = { allowedLatenessMs: 0, ...config }
  let engine = new CorrelationEngine(full)
  const outputs: string[] = []
  inputs.forEach((input, i) => {
    if (i === restoreAt) engine = new CorrelationEngine(full, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
    outputs.push(JSON.stringify(engine.apply(input)))
  })
  return { outputs, incidents: JSON.stringify(engine.incidents().sort((a, b) => a.id.localeCompare(b.id))) }
}

describe('an engine restored after any input', () => {
  const configs: Partial<CorrelationConfig>[] = [
    { retentionMs: 180 * MIN, maxAwaitingPostmortem: 2 },
    { retentionMs: 180 * MIN },
    { retentionMs: 90 * MIN, maxAwaitingPostmortem: 1, allowedLatenessMs: 5 * MIN },
    { retentionMs: 120 * MIN, maxAwaitingPostmortem: 3, allowedLatenessMs: 5 * MIN },
  ]

  it.each(configs.map((config) => [JSON.stringify(config), config] as const))('goes on as the live one, outputs and incidents kept (%s)', (_name, config) => {
    for (let seed = 1; seed <= 20; seed++) {
      const inputs = inputsOf(seed, 120, config)
      const live = run(config, inputs, -1)
      for (let k = 1; k < inputs.length; k++) {
        const restored = run(config, inputs, k)
        const at = restored.outputs.findIndex((o, j) => j >= k && o !== live.outputs[j])
        expect({ seed, restoredAt: k, firstDifferentOutput: at < 0 ? undefined : { input: inputs[at], restored: restored.outputs[at] } }).toEqual({ seed, restoredAt: k, firstDifferentOutput: undefined })
        expect(restored.incidents, `seed ${seed}, restored at ${k}`).toBe(live.incidents)
      }
    }
  }, 120_000)
})
