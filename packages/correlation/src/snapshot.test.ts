// Snapshots of version 7, 6, 5 and 4 (columns) and of version 3 (tuples, which a running correlator's state topic holds
// when a version 4 engine starts): an engine restored from either, at any point of a stream, continues with
// exactly the outputs of the engine that was never interrupted, and snapshots exactly like it.
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '@opsreview/testing/random'
import { fixture } from '@opsreview/testing'
import { compileGroupingRules, relabel } from '@opsreview/grouping'
import type { AlertmanagerWebhook } from '@opsreview/schemas'
import { defaultCorrelationConfig, type CorrelationConfig, type EngineConfig } from './config.ts'
import { CorrelationEngine, SnapshotVersionError, snapshotVersion, type EngineSnapshot } from './engine.ts'
import { restoreSnapshot, type EngineSnapshotV3 } from './snapshot.ts'
import type { EngineState } from './state.ts'
import type { AlertEvent, Command, EngineInput, IncidentAlert, Problem } from './types.ts'

const T0 = Date.parse('2026-11-01T00:00:00Z')
const MIN = 60_000
const iso = (t: number) => new Date(t).toISOString()

/**
 * The version 3 writer as engines before version 4 had it (commit 557240b), kept here unchanged to make
 * the snapshots a running correlator has on its topic.
 */
function takeSnapshotV3(s: EngineState): EngineSnapshotV3 {
  const seen = s.seen.toSnapshot()
  const memberTuple = (m: IncidentAlert) => [
    m.fingerprint, m.source, m.name, m.title, m.service, m.severity, m.status === 'resolved' ? 1 : 0, m.firstSeenAt,
    m.lastSeenAt === m.firstSeenAt ? 0 : m.lastSeenAt, m.resolvedAt, m.flapCount, m.autoResolved ? 1 : 0,
  ]
  return {
    version: 3,
    watermark: s.watermark,
    highWater: s.highWater,
    seenKeys: seen.keys,
    seenStamps: seen.stamps,
    pending: [...s.pending.items, ...s.queued.slice(s.queuedHead)],
    held: s.held.events,
    heldArrivedSinceTick: s.held.arrivedSinceTick,
    ticked: s.held.ticked,
    heldSince: s.held.since,
    heldLastAt: s.held.lastAt,
    alerts: Array.from(s.alerts, ([k, a]) => [k, a.incidentId, a.status === 'resolved' ? 1 : 0, a.lastChangeAt, a.lastHeardAt, a.earlyResolveAt, a.flapTimes]),
    incidents: Array.from(s.incidents.values(), ({ positions: _p, deps, amGroups, names, data, ...rest }) => ({
      ...rest, data: { ...data, alerts: data.alerts.map(memberTuple) }, deps: deps.slice(), amGroups: amGroups ? [...amGroups] : [], names: [...names],
    })),
    openByGroup: [...s.openByGroup],
    openByAmGroup: [...s.openByAmGroup],
    problems: [...s.problems.values()],
    bySignature: [...s.bySignature],
    recentByDep: [...s.recentByDep],
    openingSeq: s.openingSeq,
    timers: s.timers.items.slice(),
    evictionQueue: s.evictionQueue.slice(s.evictionHead),
    commandsSeen: [...s.commandsSeen],
    nextForgetAt: s.nextForgetAt,
    stats: { ...s.stats },
  } as unknown as EngineSnapshotV3
}

/**
 * A snapshot as text, for comparing, without the event-id table: a rebuilt table holds the same ids in
 * other slots (its capacity follows the ids it holds), and what it holds shows in the outputs (redeliveries).
 */
function stateOf(snapshot: object): string {
  const { seenKeys: _k, seenStamps: _s, ...rest } = snapshot as EngineSnapshot
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex')
}

/** A snapshot as it comes back from the state topic: serialised and parsed, sharing nothing. */
const roundTrip = <T>(snapshot: T): T => JSON.parse(JSON.stringify(snapshot)) as T

/** The version 3 snapshot of an engine, through its version 4 one (the engine's state is private). */
function snapshotV3(cfg: EngineConfig, engine: CorrelationEngine): EngineSnapshotV3 {
  return roundTrip(takeSnapshotV3(restoreSnapshot(cfg, roundTrip(engine.snapshot()))))
}

/**
 * A seeded stream with every part of the state: incidents of several members, an alert recurring in later
 * incidents (one key, several members), flapping, resolves before their firing, redeliveries, late events,
 * never-resolved alerts, reports, commands and ticks.
 */
function stream(episodes: number, seed: number): EngineInput[] {
  const rand = seededRandom(seed)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
  const services = ['checkout', 'payments', 'search', 'auth', 'ledger', 'cart|eu']
  const names = ['HighLatency', 'ErrorRate', 'DiskFull', 'TargetDown']
  const timed: { at: number; seq: number; input: EngineInput }[] = []
  let seq = 0
  const push = (at: number, input: EngineInput) => timed.push({ at, seq: seq++, input })
  const alert = (fp: string, service: string, name: string, status: 'firing' | 'resolved', at: number, host: string, delay = 0) => {
    const e: AlertEvent = {
      id: createHash('sha1').update(`${fp}|${status}|${at}`).digest('hex').slice(0, 32), source: 'alertmanager', fingerprint: fp, status,
      severity: name === 'TargetDown' ? 'critical' : 'warning', service, environment: 'production', title: `${name} on ${service} — ✓`,
      labels: { alertname: name, service, instance: `${host}:9100` }, startsAt: iso(at), receivedAt: iso(at + delay), links: [],
      origin: rand() < 0.5 ? { groupKey: `{}:{alertname="${name}"}` } : {},
    }
    if (status === 'resolved') e.endsAt = iso(at)
    push(at + delay, { type: 'alert', event: e })
    if (rand() < 0.05) push(at + delay + 2000, { type: 'alert', event: { ...e, receivedAt: iso(at + delay + 2000) } })
  }
  let now = T0
  for (let ep = 0; ep < episodes; ep++) {
    now += Math.floor(rand() * 20 * MIN)
    const service = pick(services)
    const host = rand() < 0.3 ? 'db-1' : `${service}-host`
    const delay = () => (rand() < 0.1 ? Math.floor(rand() * 10 * MIN) : 0)
    const r = rand()
    if (r < 0.1) {
      for (let k = 0; k < 4; k++) {
        alert(`flap-${service}`, service, 'TargetDown', 'firing', now + k * 4 * MIN, host, delay())
        alert(`flap-${service}`, service, 'TargetDown', 'resolved', now + k * 4 * MIN + 2 * MIN, host, delay())
      }
    } else if (r < 0.25) {
      // The same alert each time: one key, a member in several incidents.
      alert(`disk-${service}`, service, 'DiskFull', 'firing', now, host, delay())
      alert(`disk-${service}`, service, 'DiskFull', 'resolved', now + 8 * MIN, host, delay())
    } else if (r < 0.3) {
      alert(`lost-${ep}`, service, pick(names), 'firing', now, host)
    } else if (r < 0.35) {
      const e: AlertEvent = {
        id: createHash('sha1').update(`report|${ep}`).digest('hex').slice(0, 32), source: 'report', fingerprint: `report-${ep}`, status: 'firing',
        severity: 'warning', service, environment: 'production', title: `customers cannot pay on ${service}`, labels: {}, startsAt: iso(now), receivedAt: iso(now),
        links: [], origin: { kind: 'customer-complaint', reportedBy: 'support' },
      }
      push(now, { type: 'alert', event: e })
    } else {
      const count = 1 + Math.floor(rand() * 4)
      const duration = (2 + Math.floor(rand() * 30)) * MIN
      for (let k = 0; k < count; k++) {
        const name = pick(names)
        alert(`e${ep}-${k}`, service, name, 'firing', now + k * 10_000, host, delay())
        // Some resolves come before their firing.
        alert(`e${ep}-${k}`, service, name, 'resolved', now + duration, host, rand() < 0.1 ? -duration + 1000 - k * 10_000 : delay())
      }
    }
    if (ep % 11 === 5) {
      const type = pick(['incident.assign', 'incident.acknowledge', 'incident.note', 'incident.resolve', 'problem.confirm'] as const)
      push(now + 30_000, {
        type: 'command',
        command: { id: `cmd-${ep}`, type, target: 'placeholder', environment: 'production', actor: 'alice', at: iso(now), ...(type === 'incident.assign' ? { owner: 'bob' } : {}), ...(type === 'incident.note' ? { text: `note ${ep}` } : {}) } as Command,
      })
    }
    if (ep % 7 === 0) push(now + MIN, { type: 'tick', at: iso(now + MIN) })
  }
  for (let t = now; t <= now + 2 * 86_400_000; t += 3_600_000) push(t, { type: 'tick', at: iso(t) })
  timed.sort((a, b) => a.at - b.at || a.seq - b.seq)
  return timed.map((x) => x.input)
}

/**
 * Runs the inputs, swapping the engine at `at` for one restored from `restore(engine)`; returns a digest of
 * every output and of the final state, and the snapshot at `at`. Commands target the first incident or problem emitted, by a fixed rule.
 */
function run(config: Partial<CorrelationConfig>, inputs: EngineInput[], at: number, restore?: (e: CorrelationEngine) => CorrelationEngine): { outputs: string; final: string; atSwap: string } {
  let engine = new CorrelationEngine(config)
  const ids = { incident: [] as string[], problem: [] as string[] }
  const outputs = createHash('sha256')
  let atSwap = ''
  inputs.forEach((input, n) => {
    if (n === at) {
      atSwap = JSON.stringify(engine.snapshot())
      if (restore) engine = restore(engine)
    }
    if (input.type === 'command') {
      const pool = input.command.type.startsWith('problem.') ? ids.problem : ids.incident
      input = { type: 'command', command: { ...input.command, target: pool[n % Math.max(1, pool.length)] ?? 'none' } }
    }
    for (const o of engine.apply(input)) {
      outputs.update(JSON.stringify(o)).update('\n')
      if (o.type === 'incident' && o.incident.version === 1) ids.incident.push(o.incident.id)
      if (o.type === 'problem' && o.problem.version === 1) ids.problem.push(o.problem.id)
    }
  })
  return { outputs: outputs.digest('hex'), final: stateOf(engine.snapshot()), atSwap }
}

describe('engine snapshots', () => {
  const configs: [string, Partial<CorrelationConfig>][] = [
    ['applied on arrival', {}],
    ['with 5 minutes of allowed lateness and a short retention', { allowedLatenessMs: 5 * MIN, retentionMs: 86_400_000 }],
  ]

  it.each(configs)('restored from version 7 or version 3 at any point, an engine continues exactly as the uninterrupted one (%s)', (_name, config) => {
    const cfg: EngineConfig = { ...defaultCorrelationConfig, ...config }
    fc.assert(fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (seed, where) => {
      const inputs = stream(100, seed)
      const at = Math.floor(inputs.length * where)
      const straight = run(config, inputs, at)
      const fromV4 = run(config, inputs, at, (e) => new CorrelationEngine(config, roundTrip(e.snapshot())))
      const fromV3 = run(config, inputs, at, (e) => new CorrelationEngine(config, snapshotV3(cfg, e) as unknown as EngineSnapshot))
      expect(fromV4.outputs).toBe(straight.outputs)
      expect(fromV3.outputs).toBe(straight.outputs)
      expect(fromV4.final).toBe(straight.final)
      expect(fromV3.final).toBe(straight.final)
    }), { numRuns: 10 })
  }, 120_000)

  it('writes the same version 7 snapshot again from a restored engine, and a version 3 one restores to it', () => {
    const config = { allowedLatenessMs: 2 * MIN }
    const cfg: EngineConfig = { ...defaultCorrelationConfig, ...config }
    const inputs = stream(400, 11)
    const { atSwap } = run(config, inputs, Math.floor(inputs.length * 0.6))
    const snapshot = JSON.parse(atSwap) as EngineSnapshot
    expect(snapshot.version).toBe(snapshotVersion)
    expect(snapshotVersion).toBe(7)
    // The columns hold what the test is about: members sharing a key, tracks pointing at members, flap times.
    expect(snapshot.memberKeys.some((k) => typeof k === 'number')).toBe(true)
    expect(snapshot.trackKeys.some((k) => typeof k === 'number')).toBe(true)
    expect(snapshot.trackFlaps.length).toBeGreaterThan(0)
    // And incidents closed for a while before a counted reopening.
    expect(snapshot.incidentGaps?.length).toBeGreaterThan(0)
    const restored = new CorrelationEngine(config, roundTrip(snapshot))
    expect(stateOf(restored.snapshot())).toBe(stateOf(snapshot))
    const v3 = roundTrip(takeSnapshotV3(restoreSnapshot(cfg, roundTrip(snapshot))))
    expect(v3.version).toBe(3)
    expect(stateOf(new CorrelationEngine(config, v3 as unknown as EngineSnapshot).snapshot())).toBe(stateOf(snapshot))
  })

  it('gives problems of a snapshot written before resolvedAt and reopenCount both, in a new problem\'s key order', () => {
    const inputs = stream(400, 11)
    const engine = new CorrelationEngine()
    for (const input of inputs) engine.apply(input)
    const fresh = engine.problems()[0]!
    const old = roundTrip(engine.snapshot())
    for (const p of old.problems) { delete (p as Partial<Problem>).resolvedAt; delete (p as Partial<Problem>).reopenCount }
    const restored = new CorrelationEngine({}, old)
    const outputs = restored.apply({ type: 'command', command: { id: 'cmd-old-snapshot', type: 'problem.note', target: fresh.id, environment: fresh.environment, actor: 'a', at: new Date(restored.clock).toISOString(), text: 'still here' } })
    const version = outputs.find((o) => o.type === 'problem')
    expect(version?.type === 'problem' && Object.keys(version.problem)).toEqual(Object.keys(fresh))
    expect(version?.type === 'problem' && version.problem).toMatchObject({ resolvedAt: fresh.status === 'resolved' ? expect.any(String) : null, reopenCount: 0 })
  })

  it('gives incidents of a snapshot written before resolutionDecidedAt their decision time, in a new incident\'s key order', () => {
    const engine = new CorrelationEngine()
    for (const input of stream(400, 11)) engine.apply(input)
    const old = roundTrip(engine.snapshot())
    for (const i of old.incidents) delete (i.data as { resolutionDecidedAt?: string | null }).resolutionDecidedAt
    const restored = new CorrelationEngine({}, old)
    expect(restored.incidents().some((i) => i.status === 'resolved')).toBe(true)
    expect(restored.incidents().map((i) => JSON.stringify(i))).toEqual(engine.incidents().map((i) => JSON.stringify(i)))
  })

  it('reads a version 4 snapshot, whose event-id keys were written whole, and drops the same redeliveries', () => {
    const inputs = stream(300, 5)
    const engine = new CorrelationEngine()
    for (const i of inputs) engine.apply(i)
    const v5 = { ...JSON.parse(JSON.stringify(engine.snapshot())), version: 5 } as EngineSnapshot
    // A version 4 engine kept the key's last word as the id gave it: here every lowest bit is cleared,
    // the case the reader must set again (the other half are as version 5 writes them).
    const clear = (b64: string) => {
      const words = new Uint32Array(new Uint8Array(Buffer.from(b64, 'base64')).buffer)
      for (let i = 2; i < words.length; i += 3) words[i] = (words[i]! & ~1) >>> 0
      return Buffer.from(words.buffer).toString('base64')
    }
    const v4 = { ...v5, version: 4, seenKeys: v5.seenKeys.map(clear) } as EngineSnapshot
    expect(v4.seenKeys).not.toEqual(v5.seenKeys)
    const fromV4 = new CorrelationEngine({}, v4)
    const fromV5 = new CorrelationEngine({}, v5)
    // Every event again, as a redelivery: both drop them all alike, and write version 7.
    const again = inputs.filter((i) => i.type === 'alert')
    expect(JSON.stringify(again.flatMap((i) => fromV4.apply(i)))).toBe(JSON.stringify(again.flatMap((i) => fromV5.apply(i))))
    expect(fromV4.snapshot().version).toBe(snapshotVersion)
    expect(stateOf(fromV4.snapshot())).toBe(stateOf(fromV5.snapshot()))
    // The ids themselves (stateOf leaves them out): the same keys, in the same places.
    expect(fromV4.snapshot().seenKeys).toEqual(fromV5.snapshot().seenKeys)
  })

  it('takes a large state in steps, with the snapshot the same as one taken in one go', () => {
    const engine = new CorrelationEngine()
    for (const input of stream(400, 3)) engine.apply(input)
    const tracks = engine.snapshot().trackKeys.length
    const steps = engine.snapshotSteps(50)
    let step = steps.next()
    let count = 1
    for (; !step.done; step = steps.next()) count++
    // A step per 50 members or tracks (5,000 in the correlator): a caller lets the event loop run in between.
    expect(count).toBeGreaterThan(tracks / 50)
    expect(stateOf(roundTrip(step.value))).toBe(stateOf(roundTrip(engine.snapshot())))
  })

  it('restores in steps to the engine a restore in one go gives, and refuses another version at the first step', () => {
    const config = { allowedLatenessMs: 2 * MIN }
    const inputs = stream(400, 5)
    const engine = new CorrelationEngine(config)
    for (const input of inputs.slice(0, 1500)) engine.apply(input)
    const snapshot = roundTrip(engine.snapshot())
    const restoring = CorrelationEngine.restoring(config, roundTrip(snapshot), 50)
    let step = restoring.next()
    let count = 1
    for (; !step.done; step = restoring.next()) count++
    // A step per 50 members or tracks (5,000 in the correlator).
    expect(count).toBeGreaterThan(snapshot.trackKeys.length / 50)
    const whole = new CorrelationEngine(config, roundTrip(snapshot))
    expect(stateOf(step.value.snapshot())).toBe(stateOf(whole.snapshot()))
    const rest = inputs.slice(1500)
    expect(JSON.stringify(rest.flatMap((i) => step.value.apply(i)))).toBe(JSON.stringify(rest.flatMap((i) => whole.apply(i))))
    expect(() => CorrelationEngine.restoring(config, { version: 2 } as unknown as EngineSnapshot).next()).toThrow(SnapshotVersionError)
  })

  it('keeps a snapshot as it was taken while the engine goes on, so it can be written meanwhile', () => {
    const engine = new CorrelationEngine({ allowedLatenessMs: 2 * MIN })
    const inputs = stream(400, 7)
    const half = Math.floor(inputs.length / 2)
    for (const input of inputs.slice(0, half)) engine.apply(input)
    const snapshot = engine.snapshot()
    const taken = JSON.stringify(snapshot)
    expect(snapshot.pending.length + snapshot.held.length).toBeGreaterThan(0)
    for (const input of inputs.slice(half)) engine.apply(input)
    expect(JSON.stringify(snapshot)).toBe(taken)
  })

  it.each([6, 5])('reads a version %i snapshot as it is: later versions only add what an engine of that version would misread', (version) => {
    const inputs = stream(300, 7)
    const engine = new CorrelationEngine({ allowedLatenessMs: 5 * MIN })
    for (const i of inputs.slice(0, 200)) engine.apply(i)
    const current = roundTrip(engine.snapshot())
    // Engines before version 7 kept no gaps.
    const { incidentGaps: _, ...older } = { ...current, version } as EngineSnapshot
    const rest = inputs.slice(200)
    const fromOlder = new CorrelationEngine({ allowedLatenessMs: 5 * MIN }, older as EngineSnapshot)
    const fromCurrent = new CorrelationEngine({ allowedLatenessMs: 5 * MIN }, current)
    expect(JSON.stringify(rest.flatMap((i) => fromOlder.apply(i)))).toBe(JSON.stringify(rest.flatMap((i) => fromCurrent.apply(i))))
    expect(fromOlder.snapshot().version).toBe(snapshotVersion)
  })

  it('reads the NUL-joined notification-group keys of a snapshot written before 27c0263 as the JSON ones it looks up', () => {
    // Two nodes' alerts of one notification: keys apart under this default, one service, so joined through the notification.
    const config = { grouping: compileGroupingRules({ version: 1, groupBy: { default: ['service', 'labels.instance'] } }) }
    const cfg: EngineConfig = { ...defaultCorrelationConfig, ...config }
    const payload = fixture<AlertmanagerWebhook>('alertmanager/kube-prometheus-node-alerts-two-nodes.json')
    const inputs = payload.alerts.map((a): EngineInput => {
      const startsAt = new Date(a.startsAt).toISOString()
      const event: AlertEvent = {
        id: createHash('sha256').update(`alertmanager|${a.fingerprint}|firing|${startsAt}`).digest('hex').slice(0, 32),
        source: 'alertmanager', fingerprint: a.fingerprint!, status: 'firing', severity: 'warning', service: '', environment: '',
        title: a.labels.alertname!, labels: { ...a.labels }, startsAt, receivedAt: startsAt, links: [], origin: { receiver: payload.receiver, groupKey: payload.groupKey },
      }
      return { type: 'alert', event: relabel(event, config.grouping) }
    })
    expect(inputs).toHaveLength(2)
    const straight = new CorrelationEngine(config)
    const [, second] = inputs.map((i) => JSON.stringify(straight.apply(i)))
    expect(straight.incidents().map((i) => i.alertCount)).toEqual([2])

    const engine = new CorrelationEngine(config)
    engine.apply(inputs[0]!)
    const nul = (k: string) => (JSON.parse(k) as string[]).join('\u0000')
    type AmGroups = { openByAmGroup: [string, unknown][]; incidents: { amGroups: string[] }[] }
    const written = <T>(snapshot: T): T => {
      const old = roundTrip(snapshot) as T & AmGroups
      expect(old.openByAmGroup).toHaveLength(1)
      old.openByAmGroup = old.openByAmGroup.map(([k, v]) => [nul(k), v])
      for (const i of old.incidents) i.amGroups = i.amGroups.map(nul)
      return old
    }
    for (const old of [written(engine.snapshot()), written(snapshotV3(cfg, engine)) as unknown as EngineSnapshot]) {
      const restored = new CorrelationEngine(config, old)
      expect(JSON.stringify(restored.apply(inputs[1]!))).toBe(second)
      expect(restored.incidents().map((i) => i.alertCount)).toEqual([2])
      expect(stateOf(restored.snapshot())).toBe(stateOf(straight.snapshot()))
    }
  })

  it('refuses a snapshot of a version it does not know, newer or older', () => {
    for (const version of [2, snapshotVersion + 1]) {
      expect(() => new CorrelationEngine({}, { version } as unknown as EngineSnapshot)).toThrow(SnapshotVersionError)
    }
  })
})
