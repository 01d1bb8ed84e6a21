// What became of the review's decisions: the commands it published (opsreview.commands.v1) joined with the
// correlator's outcome of each (opsreview.command-results.v1), in memory, bounded.
import commandSchema from '../../../schemas/command.v1.json' with { type: 'json' }
import { withinCodePoints } from '@opsreview/schemas'

/** The correlator's outcome of one command, as it publishes it (keyed by commandId). */
export interface CommandResult {
  commandId: string
  type: string
  target: string
  ok: boolean
  error?: string
  /** Accepted: the version of the target that shows it (a correlator before 2026-12-05 sends none). */
  version?: number
}

/** One decision as the timelines show it: who, when, what, and what became of it. */
export interface Decision {
  commandId: string
  type: string
  target: string
  /** Who decided and when: from the command; absent when only its result has been read. */
  actor?: string
  at?: string
  owner?: string
  /** A note's first `DECISION_TEXT_KEPT` code points, `…` ending one that was cut. */
  text?: string
  problemId?: string
  scheduledFor?: string
  /** `pending` until the correlator's result is read. */
  outcome: 'pending' | 'accepted' | 'refused'
  /** Accepted: the version of the incident or problem that shows it, when the correlator said. */
  version?: number
  /** The correlator's reason, when refused. */
  error?: string
}

const COMMAND_ID = /^[\w.:-]{8,64}$/
const TARGET = /^(inc|prb)-[0-9a-f]{24}$/
const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max
// The schema's bounds count code points, not UTF-16 units: a name of 150 astral characters counted in
// units was left out of the decision ("owner ?").
const bounded = (bound: { maxLength: number }) => (v: unknown): v is string => typeof v === 'string' && v.length > 0 && withinCodePoints(v, bound.maxLength)
const { properties: commandFields } = commandSchema
const isActor = bounded(commandFields.actor)
const isOwner = bounded(commandFields.owner)
const isText = bounded(commandFields.text)

/**
 * How much of a note's text, and of a refusal's reason, a decision keeps, in code points: its readers show a note's decision as a title
 * (`note: …` on a timeline, for a note pending or refused; an accepted one is shown from the record, whole) and
 * `GET /api/v1/decisions/:id` serves its outcome. Kept whole (up to 20,000 characters), the log held about
 * 1 GB at its bound of 50,000 decisions, rebuilt from 30 days of topics at every start.
 */
export const DECISION_TEXT_KEPT = 200

/**
 * The first `DECISION_TEXT_KEPT` code points of a note, `…` ending one that was cut. Copied code point by code
 * point: a slice of the text parsed from the record would be a view that keeps the whole text alive.
 */
function keptText(text: string): string {
  const kept: string[] = []
  for (const c of text) {
    if (kept.length === DECISION_TEXT_KEPT) return `${kept.join('')}…`
    kept.push(c)
  }
  return text
}

/** Whether a string may be a command id: what `GET /api/v1/decisions/:id` accepts. */
export const isCommandId = (s: string) => COMMAND_ID.test(s)

/** A command-results record's value, or undefined when it is not one (the review skips it). */
export function parseCommandResult(value: Buffer | string | null): CommandResult | undefined {
  const v = parseObject(value)
  if (!v || !str(v.commandId, 64) || !str(v.type, 100) || !str(v.target, 100) || typeof v.ok !== 'boolean') return undefined
  const r: CommandResult = { commandId: v.commandId, type: v.type, target: v.target, ok: v.ok }
  // A long reason is still a reason: cut as a note is, not replaced (until 2026-12-06 one over 2,000 characters was).
  if (!v.ok) r.error = typeof v.error === 'string' && v.error.length > 0 ? keptText(v.error) : 'refused without a reason'
  else if (Number.isSafeInteger(v.version) && (v.version as number) >= 0) r.version = v.version as number
  return r
}

/** A commands record's value, as the decision it records (pending), or undefined when it is not one. */
export function parseCommand(value: Buffer | string | null): Decision | undefined {
  const v = parseObject(value)
  if (!v || !str(v.id, 64) || !str(v.type, 100) || !str(v.target, 100) || !TARGET.test(v.target)) return undefined
  const d: Decision = { commandId: v.id, type: v.type, target: v.target, outcome: 'pending' }
  if (isActor(v.actor)) d.actor = v.actor
  if (str(v.at, 64)) d.at = v.at
  if (isOwner(v.owner)) d.owner = v.owner
  if (isText(v.text)) d.text = keptText(v.text)
  if (str(v.problemId, 64)) d.problemId = v.problemId
  if (str(v.scheduledFor, 64)) d.scheduledFor = v.scheduledFor
  return d
}

function parseObject(value: Buffer | string | null): Record<string, unknown> | undefined {
  if (value === null) return undefined
  try {
    const v: unknown = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'))
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export interface DecisionLogLimits {
  /** How many decisions are remembered; the oldest read go first. */
  maxDecisions: number
}

export const defaultDecisionLogLimits: DecisionLogLimits = Object.freeze({ maxDecisions: 50_000 })

/**
 * The decisions the review has read from Kafka, by command id and by target, with waiters for outcomes.
 * Commands and results arrive on two topics in either order; a decision is complete once both were read.
 * Bounded: past `maxDecisions`, the decision read longest ago is forgotten (and its target's list shrinks).
 */
export class DecisionLog {
  readonly #limits: DecisionLogLimits
  readonly #byId = new Map<string, Decision>()
  readonly #byTarget = new Map<string, Set<string>>()
  readonly #waiters = new Map<string, Set<() => void>>()

  constructor(limits: DecisionLogLimits = defaultDecisionLogLimits) {
    this.#limits = limits
  }

  get size(): number {
    return this.#byId.size
  }

  /** A command read from the commands topic: the decision, pending until its result is read. */
  recordCommand(c: Decision): void {
    const known = this.#byId.get(c.commandId)
    if (known) {
      // The result came first (it knows the outcome, not who decided or when), or the command was published
      // again under its id (a keyed retry after a lost acknowledgement, with the time of the retry): what was
      // read first stands. The correlator applies an id once, as its first copy says, so the timeline keeps
      // that copy's time, not the retry's.
      Object.assign(known, { ...c, ...known })
      return
    }
    this.#add({ ...c, outcome: 'pending' })
  }

  /** The correlator's result of a command: completes its decision and wakes whoever waits for it. */
  recordResult(r: CommandResult): void {
    const outcome = r.ok ? 'accepted' : 'refused'
    const known = this.#byId.get(r.commandId)
    if (known) {
      known.outcome = outcome
      if (r.error !== undefined) known.error = r.error
      else delete known.error
      if (r.version !== undefined) known.version = r.version
      else delete known.version
    } else {
      this.#add({ commandId: r.commandId, type: r.type, target: r.target, outcome, ...(r.error !== undefined ? { error: r.error } : {}), ...(r.version !== undefined ? { version: r.version } : {}) })
    }
    const waiting = this.#waiters.get(r.commandId)
    if (waiting) for (const wake of waiting) wake()
  }

  get(commandId: string): Decision | undefined {
    const d = this.#byId.get(commandId)
    return d && { ...d }
  }

  /** The decisions on one incident or problem, in the order they were taken (those without a time last). */
  forTarget(target: string): Decision[] {
    const ids = this.#byTarget.get(target)
    if (!ids) return []
    return [...ids].map((id) => ({ ...this.#byId.get(id)! })).sort((a, b) => (a.at ?? '\uffff').localeCompare(b.at ?? '\uffff'))
  }

  /**
   * Waits until every command has an outcome, or `timeoutMs` has passed, and answers what is known then
   * (pending for a command whose result has not been read). An abort signal ends the wait early.
   */
  async waitFor(commandIds: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<Decision[]> {
    const settled = () => commandIds.every((id) => { const d = this.#byId.get(id); return d !== undefined && d.outcome !== 'pending' })
    if (!settled() && timeoutMs > 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          for (const id of commandIds) {
            const set = this.#waiters.get(id)
            set?.delete(wake)
            if (set?.size === 0) this.#waiters.delete(id)
          }
          resolve()
        }
        const wake = () => { if (settled()) done() }
        const timer = setTimeout(done, timeoutMs)
        signal?.addEventListener('abort', done)
        for (const id of commandIds) {
          let set = this.#waiters.get(id)
          if (!set) this.#waiters.set(id, (set = new Set()))
          set.add(wake)
        }
      })
    }
    return commandIds.map((id) => this.get(id) ?? { commandId: id, type: 'unknown', target: 'unknown', outcome: 'pending' })
  }

  /** How many requests wait for an outcome now (for tests and metrics). */
  get waiting(): number {
    let n = 0
    for (const s of this.#waiters.values()) n += s.size
    return n
  }

  #add(d: Decision): void {
    this.#byId.set(d.commandId, d)
    let ids = this.#byTarget.get(d.target)
    if (!ids) this.#byTarget.set(d.target, (ids = new Set()))
    ids.add(d.commandId)
    // Map order is insertion order: the decision read longest ago goes first.
    for (const [id, old] of this.#byId) {
      if (this.#byId.size <= this.#limits.maxDecisions) break
      this.#byId.delete(id)
      const t = this.#byTarget.get(old.target)
      t?.delete(id)
      if (t?.size === 0) this.#byTarget.delete(old.target)
    }
  }
}

/**
 * A decision in a few words, for timelines: what was decided, not by whom or with what outcome. A post-mortem's
 * time is the instant stored (`2026-12-03T09:00:00.000Z`), unambiguous for the API's clients; the dashboard
 * shows it in the review's zone, named (decisionTitle in services/review/public/app.js).
 */
export function describeDecision(d: Pick<Decision, 'type' | 'owner' | 'text' | 'problemId' | 'scheduledFor'>): string {
  switch (d.type) {
    case 'incident.assign': case 'problem.assign': return `owner ${d.owner ?? '?'}`
    case 'incident.acknowledge': return 'acknowledged'
    case 'incident.note': case 'problem.note': return `note: ${d.text ?? ''}`
    case 'incident.resolve': return 'resolved by hand'
    case 'incident.link-problem': return `linked to problem ${d.problemId ?? '?'}`
    case 'incident.schedule-postmortem': return `post-mortem scheduled for ${d.scheduledFor ?? '?'}${d.owner ? `, owner ${d.owner}` : ''}`
    case 'problem.confirm': return 'confirmed'
    case 'problem.dismiss': return 'dismissed'
    case 'problem.resolve': return 'resolved'
    default: return d.type
  }
}
