// Pins the engine's behaviour across optimisation: a fixed, seeded stream of ~12,000 inputs (episodes,
// flapping, recurring incidents, shared hosts, redeliveries, late and shuffled events, never-resolved
// alerts, reports, commands, ticks) goes through the engine, and a sha256 over every output it emits, in
// order, must equal the digest recorded below. The digests were computed by this very test on the engine
// as it was before the performance and state work of issue 11 (commit 60625a1), and re-recorded for the
// late-event rule (held backlogs, joins by span, the notification-group join per environment) and for the
// report window (a report joins an incident opening soon after it; reports alone take alerts only near a
// report), for late events finding an open incident of their group other than its owner, and for the
// join window (a complaint does not join an incident quiet for longer than it either), for the
// problem rules timing an incident of reports alone by its first alert, and for a late alert joining the
// incident it overlaps until its receipt or its held resolve (2 of 912 incidents merged), and for the
// join window counting only the activity of members firing at the time and resolves within the quiet
// period (the stream's never-resolved and flapping alerts had chained episodes of a service for a day:
// 910 incidents became 1,311), and for on-time events of a group waiting while a backlog holds events
// of that group (1,391; with allowed lateness, also those queued before the backlog came), and for a
// re-fire long after its alert ended (past the reopen window, no flap holding) joining as a new alert,
// and the join window between reports (1,415), and for the problem's `resolvedAt` and `reopenCount` (the same
// outputs with those two fields left out: the stream resolves no problem that comes back), and for the
// stream's own random numbers (seededRandom: the engine unchanged, the digests recorded on it), and for
// problem resolves among its commands (with allowed lateness, one resolved problem comes back), and for
// a resolved problem taking an incident that opened before its resolve and came after it (with allowed
// lateness, one incident held past a flapping problem's resolve is linked to it, as on arrival), and for
// a late firing older than its alert's later firing moving only the start (applied as a re-fire, it set
// the member's last firing back; of the incidents at the end, 7, 2 and 0 per case changed, each now as
// the stream delivered in order has it, flap counts aside, and none further from it), and for the
// shared-cause rule counting only the incidents of the incident's own environment (the stream's database
// hosts serve both its environments: 3 and 4 problems held an incident of the other one, now none; as
// many problems of each kind), and for the incident's `resolutionDecidedAt` (the same outputs with it left
// out), and for the retention forgetting by event time (with the short retention, the same outputs; at
// the end 5 incidents fewer, resolved by staleness more than the retention behind the last event), and for
// the `version` of an accepted command's result (the same outputs with it left out), and for the incidents
// kept past the retention until their post-mortem is scheduled (the same outputs; with the short retention,
// 269 incidents at the end instead of none, each resolved and requiring one), and for capacity forecasts
// going to a forecast problem of their service instead of an incident (every problem now has `reports`; the
// stream's forecasts make 7 forecast problems; at the end 1,315, 1,328 and 271 incidents instead of 1,316,
// 1,329 and 269, of which 10, 10 and 2 held a forecast), and for a late resolve timing the quiet period from
// the last end among the incident's members, not its own (133, 76 and 21 incidents at the end changed, nearly
// all in when their resolution was decided; 112, 71 and 15 of them now as the stream delivered in order has
// them, none further from it; 1,314 incidents instead of 1,315 applied on arrival), and for an incident the
// retention forgets going with a last version that says when (`forgottenAt`: with the short retention,
// 1,042 versions more; without them, and without the field on the versions that had one already, the
// outputs are the same), so any
// change of an output (a field, a version, an order, a key order on the wire) shows here, however subtle.
// Re-record them only for a deliberate change of behaviour, and say so in the commit.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '@opsreview/testing/random'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { CorrelationConfig } from './config.ts'
import type { AlertEvent, Command, EngineInput, EngineOutput } from './types.ts'

const T0 = Date.parse('2026-11-01T00:00:00Z')
const MIN = 60_000
const iso = (t: number) => new Date(t).toISOString()

/** A deterministic stream: the same seed gives the same inputs on every machine. */
function seededStream(episodes: number, seed = 7): EngineInput[] {
  const rand = seededRandom(seed)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
  const services = Array.from({ length: 25 }, (_, i) => `svc-${i}`)
  const envs = ['production', 'staging'] as const
  const names = ['HighLatency', 'ErrorRate', 'PodCrashLooping', 'DiskFull', 'TargetDown']
  const timed: { at: number; seq: number; input: EngineInput }[] = []
  let seq = 0
  const push = (at: number, input: EngineInput) => timed.push({ at, seq: seq++, input })
  const alert = (fp: string, service: string, env: string, name: string, status: 'firing' | 'resolved', at: number, host: string, receivedDelay = 0, source: AlertEvent['source'] = 'alertmanager') => {
    const time = iso(at)
    const e: AlertEvent = {
      id: createHash('sha1').update(`${source}|${fp}|${status}|${time}`).digest('hex').slice(0, 32),
      source, fingerprint: fp, status, severity: name === 'TargetDown' ? 'critical' : 'warning', service, environment: env,
      title: `${name} on ${service}`, labels: { alertname: name, service, instance: `${host}:9100` },
      startsAt: time, receivedAt: iso(at + receivedDelay), links: [], origin: rand() < 0.5 ? { groupKey: `{}:{alertname="${name}"}` } : {},
    }
    if (status === 'resolved') e.endsAt = time
    push(at + receivedDelay, { type: 'alert', event: e })
    if (rand() < 0.03) push(at + receivedDelay + 2000, { type: 'alert', event: { ...e, receivedAt: iso(at + receivedDelay + 2000) } })
  }
  let now = T0
  for (let ep = 0; ep < episodes; ep++) {
    now += Math.floor(rand() * 120_000)
    const service = pick(services)
    const env = pick(envs)
    const host = rand() < 0.3 ? `db-${Math.floor(rand() * 3)}` : `${service}-${Math.floor(rand() * 2)}`
    // Some events reach the engine minutes after they happened: senders batch and retry.
    const delay = () => (rand() < 0.1 ? Math.floor(rand() * 10 * MIN) : 0)
    const r = rand()
    if (r < 0.08) {
      const fp = `flap-${service}-${env}`
      for (let k = 0; k < 6; k++) {
        alert(fp, service, env, 'TargetDown', 'firing', now + k * 4 * MIN, host, delay())
        alert(fp, service, env, 'TargetDown', 'resolved', now + k * 4 * MIN + 2 * MIN, host, delay())
      }
    } else if (r < 0.16) {
      const fp = `rec-${service}-${env}-${Math.floor((now - T0) / (6 * 3_600_000))}`
      alert(fp, service, env, 'DiskFull', 'firing', now, host, delay())
      alert(fp, service, env, 'DiskFull', 'resolved', now + 8 * MIN, host, delay())
    } else if (r < 0.19) {
      // Never resolved: the staleness timeout ends it.
      alert(`lost-${ep}`, service, env, pick(names), 'firing', now, host)
    } else if (r < 0.22) {
      const at = now + MIN
      const e: AlertEvent = {
        id: createHash('sha1').update(`report|${ep}`).digest('hex').slice(0, 32), source: 'report', fingerprint: `report-${ep}`, status: 'firing',
        severity: 'warning', service, environment: env, title: `customers cannot pay on ${service}`, labels: {}, startsAt: iso(at), receivedAt: iso(at),
        links: [], origin: { kind: rand() < 0.2 ? 'capacity-forecast' : 'customer-complaint', reportedBy: 'support' },
      }
      push(at, { type: 'alert', event: e })
    } else {
      const count = 1 + Math.floor(rand() * 5)
      const duration = (2 + Math.floor(rand() * 30)) * MIN
      for (let k = 0; k < count; k++) {
        const fp = `e${ep}-${k}`
        const name = pick(names)
        // A resolve may arrive before its firing.
        const resolveDelay = rand() < 0.05 ? -duration : delay()
        alert(fp, service, env, name, 'firing', now + k * 10_000, host, delay())
        alert(fp, service, env, name, 'resolved', now + duration + k * 5_000, host, Math.max(resolveDelay, -duration + 1000 - k * 5_000))
      }
    }
    if (ep % 23 === 0 && ep > 0) {
      const types: Command['type'][] = ['incident.assign', 'incident.acknowledge', 'incident.note', 'incident.resolve', 'problem.confirm', 'problem.note', 'problem.resolve']
      const type = pick(types)
      const c: Command = {
        id: `cmd-${ep}`, type, target: 'placeholder', environment: env, actor: 'alice', at: iso(now),
        ...(type.endsWith('assign') ? { owner: 'bob' } : {}), ...(type.endsWith('note') ? { text: `note ${ep}` } : {}),
      } as Command
      push(now + 30_000, { type: 'command', command: c })
    }
    if (ep % 20 === 0) push(now + 60_000, { type: 'tick', at: iso(now + 60_000) })
  }
  for (let t = now; t <= now + 3 * 86_400_000; t += 3_600_000) push(t, { type: 'tick', at: iso(t) })
  timed.sort((a, b) => a.at - b.at || a.seq - b.seq)
  return timed.map((x) => x.input)
}

/**
 * Commands target what exists when they arrive: the first incident (or problem) the engine emitted
 * before them, picked by a fixed rule, so the stream stays deterministic and the commands do something;
 * of the target's environment, as the review sends them.
 */
function run(config: Partial<CorrelationConfig>, inputs: EngineInput[], checkpointEvery = 0): { digest: string; outputs: number; applied: EngineInput[] } {
  let engine = new CorrelationEngine(config)
  const applied: EngineInput[] = []
  const h = createHash('sha256')
  const incidents: { id: string; environment: string }[] = []
  const problems: { id: string; environment: string }[] = []
  let outputs = 0
  inputs.forEach((input, n) => {
    if (input.type === 'command') {
      const pool = input.command.type.startsWith('problem.') ? problems : incidents
      const target = pool[(n * 7) % Math.max(1, pool.length)]
      input = { type: 'command', command: { ...input.command, target: target?.id ?? 'none', environment: target?.environment ?? input.command.environment } }
    }
    applied.push(input)
    for (const o of engine.apply(input)) {
      outputs++
      h.update(JSON.stringify(o)).update('\n')
      if (o.type === 'incident' && o.incident.version === 1) incidents.push({ id: o.incident.id, environment: o.incident.environment })
      if (o.type === 'problem' && o.problem.version === 1) problems.push({ id: o.problem.id, environment: o.problem.environment })
    }
    if (checkpointEvery > 0 && n % checkpointEvery === checkpointEvery - 1) {
      engine = new CorrelationEngine(config, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
    }
  })
  // The state at the end counts too: what a restart would continue from.
  for (const i of engine.incidents()) h.update(JSON.stringify(i))
  for (const p of engine.problems()) h.update(JSON.stringify(p))
  h.update(JSON.stringify(engine.stats))
  return { digest: h.digest('hex'), outputs, applied }
}

/** Each incident's, problem's and command result's last output, by its id. */
function latestOf(outputs: Iterable<EngineOutput>, into = new Map<string, string>()): Map<string, string> {
  for (const o of outputs) {
    const key = o.type === 'incident' ? `incident ${o.incident.id}` : o.type === 'problem' ? `problem ${o.problem.id}` : `result ${o.result.commandId}`
    into.set(key, JSON.stringify(o))
  }
  return into
}

describe('behaviour pinned across optimisation', () => {
  const inputs = seededStream(2500)
  const cases = [
    ['applied on arrival (allowed lateness 0)', {}, '8747bf6dd940b995e04ce57316ccc8ac545cf2bb484bee2ad045438c05093c52'],
    ['with 5 minutes of allowed lateness', { allowedLatenessMs: 5 * MIN }, '00e61a27af6a86ed0eb1628fec4dadafc8dd57108210b633e0adca6ed48acfb8'],
    ['with a short retention, so that forgetting runs', { retentionMs: 2 * 86_400_000 }, '18abdb045a52ef76c8bd728f843811e30acc5f1d60f17b4f734c42e796df51df'],
  ] as const

  it.each(cases)('emits exactly the recorded outputs %s', (_name, config, digest) => {
    const result = run(config, inputs)
    expect(result.outputs).toBeGreaterThan(12_000)
    expect(result.digest).toBe(digest)
  }, 60_000)

  it.each(cases)('emits the same outputs %s when restored from a snapshot every 997 inputs', (_name, config, digest) => {
    expect(run(config, inputs, 997).digest).toBe(digest)
  }, 60_000)

  it.each(cases)('drains, after batches of buffered inputs, the latest version of each incident and problem that apply emits %s, once each, and ends in the same state', (_name, config) => {
    const { applied, outputs: applyOutputs } = run(config, inputs)
    const one = new CorrelationEngine(config)
    const byApply = new Map<string, string>()
    for (const input of applied) latestOf(one.apply(input), byApply)

    const buffered = new CorrelationEngine(config)
    const byBatch = new Map<string, string>()
    const rand = seededRandom(11)
    let drained = 0
    for (let i = 0; i < applied.length;) {
      const end = Math.min(applied.length, i + 1 + Math.floor(rand() * 500))
      for (; i < end; i++) buffered.applyBuffered(applied[i]!)
      const outputs = buffered.drainOutputs()
      expect(latestOf(outputs).size).toBe(outputs.length)
      drained += outputs.length
      latestOf(outputs, byBatch)
    }
    expect(drained).toBeLessThan(applyOutputs)
    expect(byBatch).toEqual(byApply)
    expect(JSON.stringify(buffered.snapshot())).toBe(JSON.stringify(one.snapshot()))
  }, 60_000)
})
