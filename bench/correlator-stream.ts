// The synthetic alert stream of the correlator benches, generated lazily so that millions of alerts never
// sit in memory at once (the state bench measures the engine's heap, not the stream's).
//
// Episodes on 500 services in 3 environments, about 9.6 days of event time per million alerts: most are
// 1-8 alerts that fire together and resolve 2-20 minutes later; 10 % flap (one alert toggling every 3
// minutes for half an hour); 10 % recur (one signature per service, once a day); some share a database
// host across services; 1 % of firing notifications are redelivered; a tick every 5 s of event time.
// Inputs come in receive order, ticks after the events of the same instant.
import { createHash } from 'node:crypto'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'
import { seededRandom } from '@opsreview/testing/random'

export const streamStart = Date.parse('2026-11-01T00:00:00Z')
const MIN = 60_000

interface Timed { at: number; seq: number; input: EngineInput }
const before = (a: Timed, b: Timed) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/** A small binary heap: the events of overlapping episodes, released in time order. */
class TimeQueue {
  readonly #a: Timed[] = []
  get size(): number { return this.#a.length }
  peek(): Timed | undefined { return this.#a[0] }
  push(x: Timed): void {
    const a = this.#a
    let i = a.length
    a.push(x)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(x, a[p]!)) break
      a[i] = a[p]!
      i = p
    }
    a[i] = x
  }
  pop(): Timed {
    const a = this.#a
    const top = a[0]!
    const last = a.pop()!
    if (a.length === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= a.length) break
      const r = l + 1
      const c = r < a.length && before(a[r]!, a[l]!) ? r : l
      if (!before(a[c]!, last)) break
      a[i] = a[c]!
      i = c
    }
    a[i] = last
    return top
  }
}

/** About `total` alert events (a few more: an episode is never cut) with their ticks, in receive order. */
export function* alertStream(total: number, seed = 42): Generator<EngineInput> {
  const rand = seededRandom(seed)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
  const services = Array.from({ length: 500 }, (_, i) => `svc-${i}`)
  const envs = ['production', 'staging', 'dev'] as const
  const names = ['HighLatency', 'ErrorRate', 'PodCrashLooping', 'DiskFull', 'CPUThrottling', 'TargetDown', 'QueueBacklog', 'CertExpiry']
  const queue = new TimeQueue()
  let seq = 0
  let nextTick = streamStart + 5000
  let lastAt = streamStart

  const push = (fp: string, service: string, env: string, name: string, status: 'firing' | 'resolved', at: number, host: string) => {
    const time = new Date(at).toISOString()
    const e: AlertEvent = {
      id: createHash('sha1').update(`${fp}|${status}|${time}`).digest('hex').slice(0, 32),
      source: 'alertmanager', fingerprint: fp, status, severity: name === 'TargetDown' ? 'critical' : 'warning', service, environment: env,
      title: `${name} on ${service}`, labels: { alertname: name, service, env, instance: `${host}:9100` },
      startsAt: time, receivedAt: time, links: [], origin: { groupKey: `{}:{alertname="${name}"}` },
    }
    if (status === 'resolved') e.endsAt = time
    queue.push({ at, seq: seq++, input: { type: 'alert', event: e } })
    if (status === 'firing' && rand() < 0.01) queue.push({ at: at + 1000, seq: seq++, input: { type: 'alert', event: { ...e, receivedAt: new Date(at + 1000).toISOString() } } })
    if (at > lastAt) lastAt = at
  }
  /** Everything due before `until` (and its ticks); the ticks of an instant come after its events. */
  function* release(until: number): Generator<EngineInput> {
    for (;;) {
      const head = queue.peek()
      const due = head && head.at < until ? head.at : Infinity
      if (nextTick < due && nextTick < until) { yield { type: 'tick', at: new Date(nextTick).toISOString() }; nextTick += 5000; continue }
      if (due === Infinity) return
      yield queue.pop().input
    }
  }

  let alerts = 0
  let episode = 0
  let now = streamStart
  while (alerts < total) {
    now += Math.floor(rand() * 15_000) // an episode starts every ~7.5 s somewhere
    yield* release(now)
    episode++
    const service = pick(services)
    const env = pick(envs)
    const host = rand() < 0.2 ? `db-${Math.floor(rand() * 5)}` : `${service}-${Math.floor(rand() * 3)}`
    const r = rand()
    if (r < 0.1) {
      const fp = `flap-${service}-${env}`
      for (let k = 0; k < 10; k++, alerts += 2) {
        push(fp, service, env, 'TargetDown', 'firing', now + k * 3 * MIN, host)
        push(fp, service, env, 'TargetDown', 'resolved', now + k * 3 * MIN + 90_000, host)
      }
    } else if (r < 0.2) {
      const day = Math.floor((now - streamStart) / 86_400_000)
      const fp = `rec-${service}-${env}-${day}`
      push(fp, service, env, 'QueueBacklog', 'firing', now, host)
      push(fp, service, env, 'QueueBacklog', 'resolved', now + 10 * MIN, host)
      alerts += 2
    } else {
      const count = 1 + Math.floor(rand() * 8)
      const duration = (2 + Math.floor(rand() * 18)) * MIN
      for (let k = 0; k < count; k++, alerts += 2) {
        const fp = `e${episode}-${k}`
        const name = pick(names)
        push(fp, service, env, name, 'firing', now + k * 10_000, host)
        push(fp, service, env, name, 'resolved', now + duration + k * 5_000, host)
      }
    }
  }
  yield* release(lastAt + 60 * MIN + 1)
}
