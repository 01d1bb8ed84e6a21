// pnpm bench:correlator-floor: how much of the engine's budget per alert the least of its work takes here.
//
// Issue 11 asks for 200,000 alerts/s on one core: 5 µs per alert. Whatever the engine's design, it must
// at least drop a redelivery, read the event's times, find the alert's state and put the alert in an
// incident. Three floors of that work, each a bare function over the stream `pnpm bench:correlator`
// applies (the same batches of 1,000 inputs, through JSON), with the engine's own id table and time parser:
//
//   dedup      the id looked up and remembered (SeenIds), the event time and the receipt read;
//   track      and the alert's state found or made, by source and fingerprint, in a Map;
//   incident   and the alert joins the open incident of its service and environment, or opens one, as a
//              member found by key (firing or resolved): no rules, timers, event-time order, retention or
//              versions out.
//
// The floors run side by side, each batch by all three, the first alternating (the host is shared).
// BENCH_ALERTS (default 1,000,000).
import { defaultCorrelationConfig } from '../packages/correlation/src/config.ts'
import { SeenIds } from '../packages/correlation/src/seen.ts'
import type { AlertEvent } from '../packages/correlation/src/types.ts'
import { parseCanonical } from '../packages/schemas/src/time.ts'
import { alertStream } from './correlator-stream.ts'
import { batchesOf, sideBySide } from './lib.ts'

const total = Number(process.env.BENCH_ALERTS ?? 1_000_000)
/** The engine's quiet period: a resolved incident takes no new alert after it. */
const quietMs = defaultCorrelationConfig.quietPeriodMs

interface Member { key: string; status: AlertEvent['status']; at: string }
interface Incident { members: Member[]; positions: Map<string, number>; firing: number; quietSince: number }
interface Track { incident: Incident | null; status: AlertEvent['status']; changedAt: number }

type Floor = 'dedup' | 'track' | 'incident'

function floor(kind: Floor): { apply: (e: AlertEvent) => void; incidents: () => number } {
  const seen = new SeenIds()
  const tracks = new Map<string, Track>()
  const openByGroup = new Map<string, Incident>()
  let incidents = 0
  let highWater = 0
  const apply = (e: AlertEvent): void => {
    if (seen.has(e.id)) return
    const t = parseCanonical(e.status === 'firing' ? e.startsAt : (e.endsAt ?? e.receivedAt)) ?? 0
    highWater = Math.max(highWater, parseCanonical(e.receivedAt) ?? t)
    seen.add(e.id, highWater)
    if (kind === 'dedup') return
    const key = `${e.source}:${e.fingerprint}`
    const track = tracks.get(key)
    if (kind === 'track') {
      if (track) { track.status = e.status; track.changedAt = t } else tracks.set(key, { incident: null, status: e.status, changedAt: t })
      return
    }
    if (track?.incident) {
      const inc = track.incident
      const at = e.status === 'firing' ? e.startsAt : (e.endsAt ?? e.receivedAt)
      inc.members[inc.positions.get(key)!] = { key, status: e.status, at }
      if (e.status !== track.status) inc.firing += e.status === 'firing' ? 1 : -1
      if (inc.firing === 0) inc.quietSince = t
      track.status = e.status
      track.changedAt = t
      return
    }
    if (e.status !== 'firing') return
    const group = `${e.service}\u0000${e.environment}`
    let inc = openByGroup.get(group)
    if (!inc || (inc.firing === 0 && t - inc.quietSince > quietMs)) {
      inc = { members: [], positions: new Map(), firing: 0, quietSince: t }
      openByGroup.set(group, inc)
      incidents++
    }
    inc.positions.set(key, inc.members.length)
    inc.members.push({ key, status: 'firing', at: e.startsAt })
    inc.firing++
    tracks.set(key, { incident: inc, status: 'firing', changedAt: t })
  }
  return { apply, incidents: () => incidents }
}

const kinds: Floor[] = ['dedup', 'track', 'incident']
const floors = kinds.map((kind) => ({ kind, ...floor(kind), seconds: 0, cpuSeconds: 0 }))
let alerts = 0
let batches = 0
for (const inputs of batchesOf(alertStream(total), 1000)) {
  // Through JSON, each floor its own copies, as `pnpm bench:correlator` feeds its engines: what a look-up by
  // an event's strings costs depends on whether an earlier event computed their hashes.
  const records = inputs.flatMap((i) => (i.type === 'alert' ? [JSON.stringify(i.event)] : []))
  sideBySide(floors, batches++, () => records.map((r) => JSON.parse(r) as AlertEvent), (f, events) => { for (const e of events) f.apply(e) })
  alerts += records.length
}
for (const f of floors) {
  const perAlertUs = f.seconds / alerts * 1e6
  console.log(`${f.kind.padEnd(8)} ${Math.round(alerts / f.seconds).toLocaleString('en')} alerts/s, ${perAlertUs.toFixed(2)} µs per alert (${Math.round(perAlertUs / 5 * 100)} % of the 5 µs budget)${f.kind === 'incident' ? `, ${f.incidents()} incidents` : ''}`)
}
