import { createHash } from 'node:crypto'
import { defaultCorrelationConfig, type CorrelationConfig } from './config.ts'
import type {
  AlertEvent, Command, CommandResult, EngineInput, EngineOutput, Incident, IncidentAlert, Problem, ProblemKind, Severity,
} from './types.ts'

const severityRank: Record<Severity, number> = { info: 0, warning: 1, critical: 2 }
const ms = (iso: string) => Date.parse(iso)
const iso = (t: number) => new Date(t).toISOString()

function hashId(prefix: string, ...parts: string[]): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(p).update('\u0000')
  return `${prefix}-${h.digest('hex').slice(0, 24)}`
}

/** What the engine remembers of one alert (source + fingerprint) between its events. */
interface AlertTrack {
  incidentId: string | null
  status: 'firing' | 'resolved'
  /** Event time of the last state change applied: older changes arriving late are stale. */
  lastChangeAt: number
  /** Engine clock when last heard of, for the staleness timeout. */
  lastSeenClock: number
  /** A resolve that came before any firing: its end time. */
  earlyResolveAt: number | null
  /** Engine clock of each re-fire within the flapping window. */
  flapTimes: number[]
}

interface IncidentState {
  data: Incident
  /** Members are immutable values, replaced on change, so an emitted document shares them safely. */
  members: Map<string, IncidentAlert>
  /** Where each member sits in `data.alerts`. */
  positions: Map<string, number>
  /** Clock until which a flapping member holds the incident open. */
  flapHoldUntil: number
  /** Members firing now: an incident can resolve when it is 0. */
  firing: number
  /** Alert names seen, for the recurring signature. */
  names: Set<string>
  /** Clock when every member had resolved; the quiet period runs from here. */
  quietSince: number | null
  resolvedClock: number | null
  openedClock: number
  /** `data.openedAt` and `data.lastEventAt` as numbers: they are compared on every event and tick. */
  openedMs: number
  lastEventMs: number
  lastActivityClock: number
  signature: string | null
  deps: Set<string>
  amGroups: Set<string>
}

interface Opening {
  incidentId: string
  at: number
}

/** The serialisable state of an engine, for checkpoints. */
export interface EngineSnapshot {
  version: 1
  clock: number
  seen: [string, number][]
  alerts: [string, AlertTrack][]
  incidents: (Omit<IncidentState, 'members' | 'positions' | 'deps' | 'amGroups' | 'names'> & { deps: string[]; amGroups: string[]; names: string[] })[]
  openByGroup: [string, string][]
  openByAmGroup: [string, string][]
  problems: Problem[]
  bySignature: [string, Opening[]][]
  recentByDep: [string, Opening[]][]
  lastSeenQueues: [string, { key: string; seen: number }[]][]
  evictionQueue: { kind: 'incident' | 'track'; id: string; at: number }[]
  commandsSeen: [string, number][]
}

/**
 * The correlation engine: alert events, the review's commands and clock ticks in; incident and problem
 * versions out. It is deterministic and does no I/O: the same inputs in the same order give the same
 * outputs, so a partition's state can be rebuilt by replaying its input log.
 *
 * Its clock is the receiver's `receivedAt` of each event and the time of each tick, never a sender's
 * event time, so a sender with a skewed clock skews only its own timestamps. Timers (quiet period,
 * staleness, flapping hold) are settled on ticks and whenever an incident is touched.
 */
export class CorrelationEngine {
  readonly #cfg: CorrelationConfig
  #clock = 0
  readonly #seen = new Map<string, number>()
  readonly #alerts = new Map<string, AlertTrack>()
  readonly #incidents = new Map<string, IncidentState>()
  /** Open incidents only: ticks visit these, not the retained resolved ones. */
  readonly #openIncidents = new Set<IncidentState>()
  readonly #openByGroup = new Map<string, string>()
  readonly #openByAmGroup = new Map<string, string>()
  readonly #problems = new Map<string, Problem>()
  readonly #bySignature = new Map<string, Opening[]>()
  /** Incidents opened recently, by dependency value, for shared-cause detection. */
  readonly #recentByDep = new Map<string, Opening[]>()
  readonly #problemIds = new Map<string, string>()
  /**
   * Staleness candidates per source, in the order they were last seen. The clock only moves forward, so
   * each queue is sorted by due time and a tick takes what is due from its head; an entry whose alert was
   * seen again since is simply dropped.
   */
  readonly #lastSeenQueues = new Map<string, { key: string; seen: number }[]>()
  readonly #queueHeads = new Map<string, number>()
  /** Resolved incidents and early resolves in clock order, so retention evicts from the head. */
  #evictionQueue: { kind: 'incident' | 'track'; id: string; at: number }[] = []
  #evictionHead = 0
  readonly #commandsSeen = new Map<string, number>()
  readonly #dirtyIncidents = new Set<IncidentState>()
  readonly #dirtyProblems = new Set<Problem>()
  #results: CommandResult[] = []

  /** Members embedded in an incident document; `alertCount` always counts them all. */
  static readonly maxAlertsInDocument = 100

  constructor(config: Partial<CorrelationConfig> = {}, snapshot?: EngineSnapshot) {
    this.#cfg = { ...defaultCorrelationConfig, ...config }
    if (snapshot) this.#restore(snapshot)
  }

  /** The engine's clock, in epoch milliseconds. */
  get clock(): number {
    return this.#clock
  }

  /** Applies one input and returns the new versions it produced, each incident or problem at most once. */
  apply(input: EngineInput): EngineOutput[] {
    switch (input.type) {
      case 'alert': this.#onAlert(input.event); break
      case 'command': this.#onCommand(input.command); break
      case 'tick': this.#onTick(ms(input.at)); break
    }
    return this.#flush()
  }

  incident(id: string): Incident | undefined {
    return this.#incidents.get(id)?.data
  }

  problem(id: string): Problem | undefined {
    return this.#problems.get(id)
  }

  /** Every incident and problem the engine holds, for comparisons and tests. */
  incidents(): Incident[] {
    return [...this.#incidents.values()].map((s) => s.data)
  }

  problems(): Problem[] {
    return [...this.#problems.values()]
  }

  // ---- alerts -------------------------------------------------------------------------------------

  #advance(clock: number): void {
    if (clock > this.#clock) this.#clock = clock
  }

  #onAlert(event: AlertEvent): void {
    const key = `${event.source}:${event.fingerprint}`
    const track = this.#alerts.get(key)
    if (this.#seen.has(event.id)) {
      // A redelivery changes nothing and moves no clock. It only says the alert still fires (Alertmanager
      // repeats firing notifications), which the staleness timeout counts as being seen.
      if (track && track.status === 'firing' && event.status === 'firing') {
        const seen = Math.min(ms(event.receivedAt), this.#clock)
        if (seen > track.lastSeenClock) this.#seenNow(track, key, event.source, seen)
      }
      return
    }
    this.#advance(ms(event.receivedAt))
    this.#seen.set(event.id, this.#clock)
    if (event.source === 'report') return this.#onReport(event)
    if (event.status === 'resolved') this.#onResolve(event, key, track)
    else this.#onFiring(event, key, track)
  }

  #onFiring(event: AlertEvent, key: string, track: AlertTrack | undefined): void {
    const at = ms(event.startsAt)
    if (track?.incidentId) {
      const inc = this.#incidents.get(track.incidentId)
      if (inc) {
        this.#settle(inc)
        const withinReopen = inc.data.status === 'resolved' && inc.resolvedClock !== null && this.#clock - inc.resolvedClock <= this.#cfg.reopenWindowMs
        if (inc.data.status === 'open' || withinReopen) {
          if (track.status === 'resolved' && at < track.lastChangeAt) {
            // A firing older than the resolve we already applied: only its start time is news.
            this.#extendStart(inc, key, event.startsAt)
            return
          }
          if (withinReopen) this.#reopen(inc)
          this.#refire(inc, key, track, event, at)
          return
        }
      }
    }
    // A new alert, or one whose incident is long resolved: it joins the open incident of its group or opens one.
    const groupKey = this.#groupKey(event)
    const amGroupKey = typeof event.origin.groupKey === 'string' ? `${event.origin.groupKey}\u0000${event.service}` : null
    const joinId = this.#openByGroup.get(groupKey) ?? (amGroupKey ? this.#openByAmGroup.get(amGroupKey) : undefined)
    const joined = joinId ? this.#incidents.get(joinId) : undefined
    const inc = joined ?? this.#open(event, groupKey)
    if (joined) this.#settle(joined)
    if (amGroupKey) { inc.amGroups.add(amGroupKey); this.#openByAmGroup.set(amGroupKey, inc.data.id) }

    const earlyResolve = track?.earlyResolveAt ?? null
    const member: IncidentAlert = {
      key, fingerprint: event.fingerprint, source: event.source, name: event.labels.alertname ?? event.title,
      title: event.title, service: event.service, severity: event.severity, status: 'firing',
      firstSeenAt: event.startsAt, lastSeenAt: event.receivedAt, resolvedAt: null, flapCount: 0, autoResolved: false,
    }
    const next: AlertTrack = { incidentId: inc.data.id, status: 'firing', lastChangeAt: at, lastSeenClock: this.#clock, earlyResolveAt: null, flapTimes: [] }
    this.#seenNow(next, key, event.source)
    if (earlyResolve !== null && earlyResolve >= at) {
      // Its resolve came first: the alert fired and ended before we heard of the firing.
      member.status = 'resolved'
      member.resolvedAt = iso(earlyResolve)
      next.status = 'resolved'
      next.lastChangeAt = earlyResolve
    }
    this.#alerts.set(key, next)
    inc.positions.set(key, inc.data.alerts.length)
    inc.members.set(key, member)
    inc.data.alerts.push(member)
    if (member.status === 'firing') inc.firing += 1
    this.#absorb(inc, member)
    inc.quietSince = inc.firing === 0 ? (inc.quietSince ?? this.#clock) : null
    const newDeps = this.#depsOf(event).filter((dep) => !inc.deps.has(dep))
    for (const dep of newDeps) inc.deps.add(dep)
    this.#extendStart(inc, key, event.startsAt)
    this.#touch(inc, event.receivedAt)
    this.#linkKnownProblems(inc, key)
    this.#checkRecurring(inc)
    if (newDeps.length > 0) this.#checkSharedCause(inc, newDeps)
  }

  #seenNow(track: AlertTrack, key: string, source: string, clock = this.#clock): void {
    track.lastSeenClock = clock
    let q = this.#lastSeenQueues.get(source)
    if (!q) this.#lastSeenQueues.set(source, (q = []))
    q.push({ key, seen: clock })
  }

  /** Resolves firing alerts not heard of for their source's staleness timeout. */
  #expireStale(): void {
    for (const [source, q] of this.#lastSeenQueues) {
      const limit = this.#cfg.stalenessMs[source] ?? this.#cfg.stalenessMs.alertmanager ?? 86_400_000
      let head = this.#queueHeads.get(source) ?? 0
      while (head < q.length && this.#clock - q[head]!.seen >= limit) {
        const { key, seen } = q[head++]!
        const track = this.#alerts.get(key)
        if (!track || track.lastSeenClock !== seen || track.status !== 'firing' || !track.incidentId) continue
        const inc = this.#incidents.get(track.incidentId)
        const m = inc?.members.get(key)
        if (!inc || !m || inc.data.status !== 'open' || m.status !== 'firing') continue
        this.#updateMember(inc, key, { status: 'resolved', resolvedAt: m.lastSeenAt, autoResolved: true })
        track.status = 'resolved'
        inc.firing -= 1
        // Nothing was heard for a whole staleness timeout: the quiet period has long passed.
        if (inc.firing === 0) inc.quietSince = this.#clock - this.#cfg.quietPeriodMs
      }
      this.#queueHeads.set(source, compactHead(q, head))
    }
  }

  /** Replaces a member with a changed copy. */
  #updateMember(inc: IncidentState, key: string, change: Partial<IncidentAlert>): IncidentAlert | undefined {
    const old = inc.members.get(key)
    if (!old) return undefined
    const next = { ...old, ...change }
    inc.members.set(key, next)
    inc.data.alerts[inc.positions.get(key)!] = next
    this.#dirtyIncidents.add(inc)
    return next
  }

  #refire(inc: IncidentState, key: string, track: AlertTrack, event: AlertEvent, at: number): void {
    const old = inc.members.get(key)
    if (!old) return
    if (old.status === 'resolved') inc.firing += 1
    let flapCount = old.flapCount
    if (track.status === 'resolved') {
      flapCount += 1
      track.flapTimes = track.flapTimes.filter((t) => this.#clock - t <= this.#cfg.flapping.windowMs)
      track.flapTimes.push(this.#clock)
      if (track.flapTimes.length >= this.#cfg.flapping.minFlaps) inc.flapHoldUntil = Math.max(inc.flapHoldUntil, this.#clock + this.#cfg.flapping.windowMs)
    }
    const member = this.#updateMember(inc, key, {
      status: 'firing', resolvedAt: null, autoResolved: false, flapCount, severity: event.severity, title: event.title, lastSeenAt: event.receivedAt,
    })!
    this.#absorb(inc, member)
    track.status = 'firing'
    track.lastChangeAt = at
    this.#seenNow(track, key, event.source)
    inc.quietSince = null
    this.#touch(inc, event.receivedAt)
    if (track.flapTimes.length >= this.#cfg.flapping.minFlaps) {
      this.#upsertProblem('flapping', `${inc.data.environment}|${key}`, [inc], `${member.name} on ${member.service} keeps flapping`)
    }
  }

  #onResolve(event: AlertEvent, key: string, track: AlertTrack | undefined): void {
    const at = ms(event.endsAt ?? event.startsAt)
    if (!track || !track.incidentId) {
      // Resolved before we saw it fire: remember, so a late firing is known to be over.
      this.#alerts.set(key, {
        incidentId: null, status: 'resolved', lastChangeAt: at, lastSeenClock: this.#clock,
        earlyResolveAt: Math.max(at, track?.earlyResolveAt ?? at), flapTimes: [],
      })
      this.#evictionQueue.push({ kind: 'track', id: key, at: this.#clock })
      return
    }
    const inc = this.#incidents.get(track.incidentId)
    const member = inc?.members.get(key)
    if (!inc || !member) return
    this.#settle(inc)
    if (at < track.lastChangeAt) return // older than what we know
    if (track.status === 'resolved' && !member.autoResolved) return
    if (member.status === 'firing') inc.firing -= 1
    this.#updateMember(inc, key, { status: 'resolved', resolvedAt: iso(at), autoResolved: false, lastSeenAt: event.receivedAt })
    track.status = 'resolved'
    track.lastChangeAt = at
    track.lastSeenClock = this.#clock
    if (inc.data.status === 'open' && inc.firing === 0) inc.quietSince ??= this.#clock
    if (inc.data.status === 'resolved' && inc.data.resolvedBy !== 'manual') inc.data.resolvedAt = this.#endOf(inc)
    this.#touch(inc, event.receivedAt)
    this.#settle(inc)
  }

  #onReport(event: AlertEvent): void {
    const groupKey = this.#groupKey(event)
    const openId = this.#openByGroup.get(groupKey)
    const inc = (openId ? this.#incidents.get(openId) : undefined) ?? this.#open(event, groupKey)
    this.#settle(inc)
    const kind = String(event.origin.kind ?? event.labels.report_kind ?? 'manual')
    inc.data.reports.push({ eventId: event.id, kind, title: event.title, reportedBy: String(event.origin.reportedBy ?? ''), at: event.startsAt })
    // A capacity forecast predicts trouble; every other report says someone is hurt now.
    if (kind !== 'capacity-forecast') inc.data.customerImpact = true
    if (!inc.data.services.includes(event.service)) inc.data.services.push(event.service)
    this.#extendStart(inc, null, event.startsAt)
    this.#touch(inc, event.receivedAt)
  }

  #open(event: AlertEvent, groupKey: string): IncidentState {
    const data: Incident = {
      id: hashId('inc', event.id), title: event.title, status: 'open', severity: event.severity,
      services: [event.service], environment: event.environment, groupKey,
      openedAt: event.startsAt, resolvedAt: null, resolvedBy: null, lastEventAt: event.receivedAt,
      alertCount: 0, alerts: [], reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null,
      problemIds: [], postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 0,
    }
    const inc: IncidentState = {
      data, members: new Map(), positions: new Map(), flapHoldUntil: 0, firing: 0, names: new Set(), quietSince: null, resolvedClock: null, openedClock: this.#clock,
      openedMs: ms(data.openedAt), lastEventMs: ms(data.lastEventAt), lastActivityClock: this.#clock,
      signature: null, deps: new Set(), amGroups: new Set(),
    }
    this.#incidents.set(data.id, inc)
    this.#openIncidents.add(inc)
    this.#openByGroup.set(groupKey, data.id)
    this.#dirtyIncidents.add(inc)
    return inc
  }

  #reopen(inc: IncidentState): void {
    inc.data.status = 'open'
    inc.data.resolvedAt = null
    inc.data.resolvedBy = null
    inc.data.reopenCount += 1
    inc.resolvedClock = null
    this.#openIncidents.add(inc)
    // The newest open incident of a group owns it; a reopened one takes it back only when it is free.
    if (!this.#openByGroup.has(inc.data.groupKey)) this.#openByGroup.set(inc.data.groupKey, inc.data.id)
    this.#dirtyIncidents.add(inc)
  }

  #resolve(inc: IncidentState, by: 'alerts' | 'staleness' | 'manual', at: string): void {
    inc.data.status = 'resolved'
    inc.data.resolvedAt = at
    inc.data.resolvedBy = by
    inc.resolvedClock = this.#clock
    inc.quietSince = null
    this.#openIncidents.delete(inc)
    this.#evictionQueue.push({ kind: 'incident', id: inc.data.id, at: this.#clock })
    if (this.#openByGroup.get(inc.data.groupKey) === inc.data.id) this.#openByGroup.delete(inc.data.groupKey)
    for (const g of inc.amGroups) if (this.#openByAmGroup.get(g) === inc.data.id) this.#openByAmGroup.delete(g)
    this.#dirtyIncidents.add(inc)
  }

  /**
   * Applies the incident's due timers at the current clock: the quiet period and the flapping hold (and the
   * report timeout). Staleness of members is applied on ticks, by `#expireStale`.
   */
  #settle(inc: IncidentState): void {
    if (inc.data.status !== 'open') return
    const now = this.#clock
    if (inc.members.size === 0) {
      // Opened by a report: nothing will resolve it but a person or the staleness timeout.
      const limit = this.#cfg.stalenessMs.report ?? 86_400_000
      if (now - inc.lastActivityClock >= limit) this.#resolve(inc, 'staleness', inc.data.lastEventAt)
      return
    }
    if (inc.firing > 0) return
    inc.quietSince ??= now
    if (now - inc.quietSince < this.#cfg.quietPeriodMs) return
    // A flapping member holds the incident open until it has been quiet for the flapping window.
    if (now < inc.flapHoldUntil) return
    const auto = [...inc.members.values()].some((m) => m.autoResolved)
    this.#resolve(inc, auto ? 'staleness' : 'alerts', this.#endOf(inc))
  }

  /** Folds a member into the incident's severity (the maximum), services and names. */
  #absorb(inc: IncidentState, m: IncidentAlert): void {
    const d = inc.data
    if (inc.members.size === 1 || severityRank[m.severity] > severityRank[d.severity]) d.severity = m.severity
    if (!d.services.includes(m.service)) d.services.push(m.service)
    inc.names.add(m.name)
  }

  #endOf(inc: IncidentState): string {
    let end = 0
    for (const m of inc.members.values()) if (m.resolvedAt) end = Math.max(end, ms(m.resolvedAt))
    return iso(end || this.#clock)
  }

  #extendStart(inc: IncidentState, key: string | null, startsAt: string): void {
    const t = ms(startsAt)
    const member = key ? inc.members.get(key) : undefined
    if (key && member && t < ms(member.firstSeenAt)) this.#updateMember(inc, key, { firstSeenAt: startsAt })
    if (t < inc.openedMs) { inc.data.openedAt = startsAt; inc.openedMs = t; this.#dirtyIncidents.add(inc) }
  }

  #touch(inc: IncidentState, receivedAt: string): void {
    const t = ms(receivedAt)
    if (t > inc.lastEventMs) { inc.data.lastEventAt = receivedAt; inc.lastEventMs = t }
    inc.lastActivityClock = this.#clock
    this.#dirtyIncidents.add(inc)
  }

  #groupKey(event: AlertEvent): string {
    const explicit = event.labels[this.#cfg.incidentKeyLabel]
    if (explicit) return `key:${explicit}`
    return this.#cfg.groupBy
      .map((f) => (f === 'service' ? event.service : f === 'environment' ? event.environment : (event.labels[f] ?? '')))
      .join('|')
  }

  /** Dependency label values: what two services can share when one cause hurts both. */
  #depsOf(event: AlertEvent): string[] {
    const out: string[] = []
    for (const label of this.#cfg.sharedCause.labels) {
      const v = event.labels[label]
      if (v) out.push(`${label}=${v}`)
    }
    const instance = event.labels.instance
    if (instance && this.#cfg.sharedCause.labels.includes('host') && !event.labels.host) {
      const host = instance.startsWith('[') ? instance.slice(1, instance.indexOf(']')) : instance.replace(/:\d+$/, '')
      if (host) out.push(`host=${host}`)
    }
    return out
  }

  // ---- problems -----------------------------------------------------------------------------------

  #signature(inc: IncidentState): string | null {
    if (inc.members.size === 0) return null
    return `${inc.data.environment}|${inc.data.services[0]}|${[...inc.names].sort().join(',')}`
  }

  #checkRecurring(inc: IncidentState): void {
    // The signature changes only when a new alert name joins.
    if (inc.signature !== null && inc.signature.split('|')[2]!.split(',').length === inc.names.size) return
    const sig = this.#signature(inc)
    if (sig === null || sig === inc.signature) return
    if (inc.signature !== null) {
      const old = this.#bySignature.get(inc.signature)
      if (old) this.#bySignature.set(inc.signature, old.filter((o) => o.incidentId !== inc.data.id))
    }
    inc.signature = sig
    const window = this.#cfg.recurring.windowMs
    const list = (this.#bySignature.get(sig) ?? []).filter((o) => this.#clock - o.at <= window)
    list.push({ incidentId: inc.data.id, at: inc.openedClock })
    this.#bySignature.set(sig, list)
    const existing = this.#problems.get(this.#problemId('recurring', sig))
    if (list.length >= this.#cfg.recurring.minIncidents || (existing && (existing.status === 'candidate' || existing.status === 'confirmed'))) {
      const incidents = existing ? [inc] : list.map((o) => this.#incidents.get(o.incidentId)).filter((x): x is IncidentState => !!x)
      const [, service, names] = sig.split('|')
      this.#upsertProblem('recurring', sig, incidents, `${names} keeps recurring on ${service}`)
    }
  }

  /** Checks the dependencies an incident just gained against the incidents opened near it. */
  #checkSharedCause(inc: IncidentState, deps: readonly string[]): void {
    const { windowMs, minServices } = this.#cfg.sharedCause
    if (this.#clock - inc.openedClock > windowMs) return
    for (const dep of deps) {
      const recent = (this.#recentByDep.get(dep) ?? []).filter((o) => this.#clock - o.at <= windowMs && o.incidentId !== inc.data.id)
      recent.push({ incidentId: inc.data.id, at: inc.openedClock })
      this.#recentByDep.set(dep, recent)
      const sig = `${inc.data.environment}|${dep}`
      const sharing = recent
        .map((o) => this.#incidents.get(o.incidentId))
        .filter((o): o is IncidentState => !!o && Math.abs(o.openedClock - inc.openedClock) <= windowMs)
      const services = new Set(sharing.flatMap((o) => o.data.services))
      const existing = this.#problems.get(this.#problemId('shared-cause', sig))
      if (services.size >= minServices || (existing && (existing.status === 'candidate' || existing.status === 'confirmed'))) {
        this.#upsertProblem('shared-cause', sig, existing ? [inc] : sharing, `${[...services].sort().join(', ')} failing together on ${dep}`)
      }
    }
  }

  /** A new incident whose alert is known to flap, or that matches a confirmed problem, is linked to it. */
  #linkKnownProblems(inc: IncidentState, key: string): void {
    const flapping = this.#problems.get(this.#problemId('flapping', `${inc.data.environment}|${key}`))
    if (flapping && (flapping.status === 'candidate' || flapping.status === 'confirmed')) this.#link(inc, flapping)
  }

  /** Problem ids are a hash of kind and signature; looked up often, so remembered. */
  #problemId(kind: ProblemKind, signature: string): string {
    const k = `${kind}\u0000${signature}`
    let id = this.#problemIds.get(k)
    if (!id) {
      id = hashId('prb', kind, signature)
      this.#problemIds.set(k, id)
    }
    return id
  }

  #upsertProblem(kind: ProblemKind, signature: string, incidents: IncidentState[], title: string): void {
    const id = this.#problemId(kind, signature)
    let p = this.#problems.get(id)
    if (!p) {
      const env = signature.split('|')[0] ?? ''
      p = {
        id, kind, status: 'candidate', title, signature, services: [], environment: env, incidentIds: [], incidentCount: 0,
        firstSeenAt: incidents[0]?.data.openedAt ?? iso(this.#clock), lastSeenAt: incidents[0]?.data.openedAt ?? iso(this.#clock),
        owner: null, notes: [], version: 0,
      }
      this.#problems.set(id, p)
      this.#dirtyProblems.add(p)
    }
    if (p.status === 'dismissed' || p.status === 'resolved') return
    for (const inc of incidents) this.#link(inc, p)
  }

  #link(inc: IncidentState, p: Problem): void {
    if (!p.incidentIds.includes(inc.data.id)) {
      p.incidentIds.push(inc.data.id)
      p.incidentCount = p.incidentIds.length
      for (const s of inc.data.services) if (!p.services.includes(s)) p.services.push(s)
      if (ms(inc.data.openedAt) < ms(p.firstSeenAt)) p.firstSeenAt = inc.data.openedAt
      if (ms(inc.data.openedAt) > ms(p.lastSeenAt)) p.lastSeenAt = inc.data.openedAt
      this.#dirtyProblems.add(p)
    }
    if (!inc.data.problemIds.includes(p.id)) {
      inc.data.problemIds.push(p.id)
      this.#dirtyIncidents.add(inc)
    }
  }

  // ---- commands -----------------------------------------------------------------------------------

  #onCommand(c: Command): void {
    if (this.#commandsSeen.has(c.id)) return
    this.#commandsSeen.set(c.id, this.#clock)
    const error = c.type.startsWith('incident.') ? this.#incidentCommand(c) : this.#problemCommand(c)
    this.#results.push(error ? { commandId: c.id, type: c.type, target: c.target, ok: false, error } : { commandId: c.id, type: c.type, target: c.target, ok: true })
  }

  #incidentCommand(c: Command): string | undefined {
    const inc = this.#incidents.get(c.target)
    if (!inc) return `unknown incident ${c.target}`
    this.#settle(inc)
    const d = inc.data
    switch (c.type) {
      case 'incident.assign':
        if (!c.owner) return 'owner is required'
        d.owner = c.owner
        break
      case 'incident.acknowledge':
        if (d.acknowledgedAt) return undefined
        d.acknowledgedAt = c.at
        d.acknowledgedBy = c.actor
        break
      case 'incident.note':
        if (!c.text) return 'text is required'
        d.notes.push({ at: c.at, author: c.actor, text: c.text })
        break
      case 'incident.resolve':
        if (d.status === 'resolved') return 'incident is already resolved'
        this.#resolve(inc, 'manual', c.at)
        break
      case 'incident.link-problem': {
        const p = c.problemId ? this.#problems.get(c.problemId) : undefined
        if (!p) return `unknown problem ${c.problemId ?? '(none)'}`
        this.#link(inc, p)
        break
      }
      case 'incident.schedule-postmortem':
        if (!c.scheduledFor) return 'scheduledFor is required'
        d.postmortem.scheduledFor = c.scheduledFor
        d.postmortem.owner = c.owner ?? d.postmortem.owner
        break
      default:
        return `unknown command ${c.type}`
    }
    this.#dirtyIncidents.add(inc)
    return undefined
  }

  #problemCommand(c: Command): string | undefined {
    const p = this.#problems.get(c.target)
    if (!p) return `unknown problem ${c.target}`
    const move = (from: Problem['status'][], to: Problem['status']) => {
      if (!from.includes(p.status)) return `cannot ${c.type.slice(8)} a ${p.status} problem`
      p.status = to
      return undefined
    }
    let error: string | undefined
    switch (c.type) {
      case 'problem.confirm': error = move(['candidate'], 'confirmed'); break
      case 'problem.dismiss': error = move(['candidate'], 'dismissed'); break
      case 'problem.resolve': error = move(['confirmed'], 'resolved'); break
      case 'problem.assign':
        if (!c.owner) return 'owner is required'
        p.owner = c.owner
        break
      case 'problem.note':
        if (!c.text) return 'text is required'
        p.notes.push({ at: c.at, author: c.actor, text: c.text })
        break
      default:
        return `unknown command ${c.type}`
    }
    if (!error) this.#dirtyProblems.add(p)
    return error
  }

  // ---- ticks, output, housekeeping ------------------------------------------------------------------

  #onTick(at: number): void {
    this.#advance(at)
    this.#expireStale()
    for (const inc of [...this.#openIncidents]) {
      this.#settle(inc)
      if (inc.data.status === 'open') this.#dirtyIfPostmortemChanged(inc)
    }
    const horizon = this.#clock - this.#cfg.retentionMs
    pruneOldest(this.#seen, horizon)
    pruneOldest(this.#commandsSeen, horizon)
    this.#evictBefore(horizon)
  }

  /** Forgets incidents resolved, and early resolves seen, before the retention horizon. */
  #evictBefore(horizon: number): void {
    const q = this.#evictionQueue
    let head = this.#evictionHead
    while (head < q.length && q[head]!.at < horizon) {
      const { kind, id } = q[head++]!
      if (kind === 'track') {
        const track = this.#alerts.get(id)
        if (track && track.incidentId === null && track.lastSeenClock < horizon) this.#alerts.delete(id)
        continue
      }
      const inc = this.#incidents.get(id)
      // Reopened since it was queued: it is queued again when it resolves again.
      if (!inc || inc.data.status !== 'resolved' || inc.resolvedClock === null || inc.resolvedClock >= horizon) continue
      this.#incidents.delete(id)
      for (const key of inc.members.keys()) if (this.#alerts.get(key)?.incidentId === id) this.#alerts.delete(key)
    }
    this.#evictionHead = compactHead(q, head)
  }

  #postmortemReasons(inc: IncidentState): string[] {
    const d = inc.data
    const reasons: string[] = []
    if (this.#cfg.postmortem.severities.includes(d.severity)) reasons.push(`severity ${d.severity}`)
    const end = d.status === 'resolved' && d.resolvedAt ? ms(d.resolvedAt) : Math.max(this.#clock, inc.lastEventMs)
    if (end - inc.openedMs >= this.#cfg.postmortem.minDurationMs) reasons.push(`lasted ${Math.round((end - inc.openedMs) / 60_000)} min or more`)
    if (this.#cfg.postmortem.whenCustomerImpact && d.customerImpact) reasons.push('customers affected')
    return reasons
  }

  /** While an incident is open only its duration can newly require a post-mortem: check just that. */
  #dirtyIfPostmortemChanged(inc: IncidentState): void {
    if (inc.data.postmortem.required) return
    if (Math.max(this.#clock, inc.lastEventMs) - inc.openedMs >= this.#cfg.postmortem.minDurationMs) this.#dirtyIncidents.add(inc)
  }

  #recompute(inc: IncidentState): void {
    const d = inc.data
    d.alertCount = inc.members.size
    const first = inc.members.values().next().value
    if (first) d.title = inc.members.size > 1 ? `${first.title} (+${inc.members.size - 1} more)` : first.title
    const reasons = this.#postmortemReasons(inc)
    d.postmortem.required = reasons.length > 0
    d.postmortem.reasons = reasons
  }

  #flush(): EngineOutput[] {
    const out: EngineOutput[] = []
    for (const inc of this.#dirtyIncidents) {
      this.#recompute(inc)
      inc.data.version += 1
      out.push({ type: 'incident', incident: snapshotIncident(inc.data, CorrelationEngine.maxAlertsInDocument) })
    }
    for (const p of this.#dirtyProblems) {
      p.version += 1
      out.push({ type: 'problem', problem: { ...p, services: [...p.services], incidentIds: [...p.incidentIds], notes: p.notes.map((n) => ({ ...n })) } })
    }
    for (const result of this.#results) out.push({ type: 'command-result', result })
    this.#dirtyIncidents.clear()
    this.#dirtyProblems.clear()
    this.#results = []
    return out
  }

  // ---- checkpoints --------------------------------------------------------------------------------

  /**
   * The whole state as plain data; `new CorrelationEngine(config, snapshot)` continues from it. It shares
   * structure with the live state (no copy of a large state per checkpoint): serialise it before the
   * next `apply`.
   */
  snapshot(): EngineSnapshot {
    return ({
      version: 1,
      clock: this.#clock,
      seen: [...this.#seen],
      alerts: [...this.#alerts],
      incidents: [...this.#incidents.values()].map(({ members: _m, positions: _p, deps, amGroups, names, ...rest }) => ({ ...rest, deps: [...deps], amGroups: [...amGroups], names: [...names] })),
      openByGroup: [...this.#openByGroup],
      openByAmGroup: [...this.#openByAmGroup],
      problems: [...this.#problems.values()],
      bySignature: [...this.#bySignature],
      recentByDep: [...this.#recentByDep],
      evictionQueue: this.#evictionQueue.slice(this.#evictionHead),
      lastSeenQueues: [...this.#lastSeenQueues].map(([src, q]) => [src, q.slice(this.#queueHeads.get(src) ?? 0)] as [string, { key: string; seen: number }[]]),
      commandsSeen: [...this.#commandsSeen],
    })
  }

  #restore(s: EngineSnapshot): void {
    const copy = structuredClone(s)
    this.#clock = copy.clock
    for (const [k, v] of copy.seen) this.#seen.set(k, v)
    for (const [k, v] of copy.alerts) this.#alerts.set(k, v)
    for (const i of copy.incidents) {
      const members = new Map(i.data.alerts.map((a) => [a.key, a]))
      const positions = new Map(i.data.alerts.map((a, n) => [a.key, n]))
      const inc: IncidentState = { ...i, members, positions, deps: new Set(i.deps), amGroups: new Set(i.amGroups), names: new Set(i.names) }
      this.#incidents.set(i.data.id, inc)
      if (inc.data.status === 'open') this.#openIncidents.add(inc)
    }
    for (const [k, v] of copy.openByGroup) this.#openByGroup.set(k, v)
    for (const [k, v] of copy.openByAmGroup) this.#openByAmGroup.set(k, v)
    for (const p of copy.problems) this.#problems.set(p.id, p)
    for (const [k, v] of copy.bySignature) this.#bySignature.set(k, v)
    for (const [k, v] of copy.recentByDep) this.#recentByDep.set(k, v)
    for (const [k, v] of copy.lastSeenQueues) this.#lastSeenQueues.set(k, v)
    this.#evictionQueue = copy.evictionQueue
    for (const [k, v] of copy.commandsSeen) this.#commandsSeen.set(k, v)
  }
}

/** Drops a queue's consumed head now and then, so it does not grow without end; returns the new head. */
function compactHead<T>(queue: T[], head: number): number {
  if (head <= 4096 || head * 2 <= queue.length) return head
  queue.splice(0, head)
  return 0
}

/** Ids are inserted in clock order, so the expired ones are a prefix: stop at the first that is not. */
function pruneOldest(map: Map<string, number>, horizon: number): void {
  for (const [id, t] of map) {
    if (t >= horizon) return
    map.delete(id)
  }
}

/** A copy of the incident document: later changes do not reach an emitted version. */
function snapshotIncident(d: Incident, maxAlerts: number): Incident {
  // A storm incident can gather thousands of alerts; the document keeps the first ones (alertCount has them all).
  return {
    ...d,
    services: [...d.services],
    alerts: d.alerts.slice(0, maxAlerts),
    reports: d.reports.map((r) => ({ ...r })),
    problemIds: [...d.problemIds],
    postmortem: { ...d.postmortem, reasons: [...d.postmortem.reasons] },
    notes: d.notes.map((n) => ({ ...n })),
  }
}
