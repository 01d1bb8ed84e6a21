import { applyCommand } from './commands.ts'
import { defaultCorrelationConfig, type CorrelationConfig, type EngineConfig } from './config.ts'
import { EngineCapacityError, isCapacityError } from './errors.ts'
import { compactResolved, copyIncident, recompute } from './incidents.ts'
import { restoreSnapshot, restoreSteps, snapshotSteps, takeSnapshot, type EngineSnapshot } from './snapshot.ts'
import { createState, MAX_ENTRIES_IN_DOCUMENT, parseTime, type EngineState, type IncidentState } from './state.ts'
import type { CommandResult, EngineInput, EngineOutput, EngineStats, Incident, Problem } from './types.ts'
import { arrive, tick } from './watermark.ts'

export type { EngineSnapshot } from './snapshot.ts'
export { snapshotVersion } from './snapshot.ts'
export { EngineCapacityError, EventTimeError, isRoomRefused, SnapshotVersionError } from './errors.ts'

/** A state `restoring` rebuilt, handed to the constructor; the symbol is this module's own. */
const restored = Symbol('restored engine state')
interface Restored { readonly [restored]: EngineState }

/**
 * The correlation engine: alert events, the review's commands and clock ticks in; incident and problem
 * versions out. It is deterministic and does no I/O: the same inputs in the same order give the same
 * outputs, so a partition's state can be rebuilt by replaying its input log.
 *
 * It decides on event time, the senders' times (clamped to receipt + `futureToleranceMs`), and fires its
 * timers on a watermark: the newest event time or tick less `allowedLatenessMs`. Events wait for the
 * watermark and are applied in event-time order, so any delivery of the same events within the allowed
 * lateness gives the same incidents and problems. Later events follow the late-event rule
 * (docs/correlation-event-time.md).
 */
export class CorrelationEngine {
  readonly #s: EngineState
  /** Versioned since the last `drainOutputs`, each once (`IncidentState.changed`), in the order they first changed. */
  #changedIncidents: IncidentState[] = []
  readonly #changedProblems = new Set<Problem>()
  #commandResults: CommandResult[] = []
  /** The limit an input met: the state is half-changed since, and every later input is refused with it. */
  #full: EngineCapacityError | undefined

  /** Members embedded in an incident document; `alertCount` always counts them all. */
  static readonly maxAlertsInDocument = 100
  /** The latest notes and reports an incident document holds, and notes a problem document holds (and the state keeps of notes). */
  static readonly maxEntriesInDocument = MAX_ENTRIES_IN_DOCUMENT

  /** Throws `SnapshotVersionError` for a snapshot of another engine version: replay the input log instead. */
  constructor(config: Partial<CorrelationConfig> = {}, snapshot?: EngineSnapshot | Restored) {
    const cfg: EngineConfig = { ...defaultCorrelationConfig, ...config }
    this.#s = snapshot === undefined ? createState(cfg) : restored in snapshot ? snapshot[restored] : restoreSnapshot(cfg, snapshot)
  }

  /**
   * `new CorrelationEngine(config, snapshot)` in steps, for a large state (seconds at a million alerts): a
   * caller may let other work run between them. The first step throws `SnapshotVersionError` as the
   * constructor does.
   */
  static *restoring(config: Partial<CorrelationConfig>, snapshot: EngineSnapshot, membersPerStep?: number): Generator<undefined, CorrelationEngine> {
    const cfg: EngineConfig = { ...defaultCorrelationConfig, ...config }
    const state = yield* restoreSteps(cfg, snapshot, membersPerStep)
    return new CorrelationEngine(config, { [restored]: state })
  }

  /** The engine's clock: its watermark, in epoch milliseconds of event time. */
  get clock(): number {
    return this.#s.watermark
  }

  /** What the engine did with events that were late, clamped or are still waiting. */
  get stats(): EngineStats {
    return { ...this.#s.stats, pending: this.#s.pending.size + this.#s.queued.length - this.#s.queuedHead + this.#s.held.events.length }
  }

  /**
   * Applies one input and returns the new versions it produced, each incident or problem at most once (with
   * any that `applyBuffered` kept before it: the two are not meant to be mixed).
   */
  apply(input: EngineInput): EngineOutput[] {
    this.applyBuffered(input)
    return this.drainOutputs()
  }

  /**
   * Applies one input as `apply` does, the same versions numbered the same way, but keeps its outputs for
   * `drainOutputs`. A batch of inputs then costs one document per incident or problem it changed instead of
   * one per version: a consumer of a compacted topic, or of an index of external versions, only ever keeps
   * the latest. Drain before `snapshot()`: a snapshot holds no outputs.
   */
  applyBuffered(input: EngineInput): void {
    if (this.#full) throw this.#full
    try {
      switch (input.type) {
        case 'alert': arrive(this.#s, input.event); break
        case 'command': applyCommand(this.#s, input.command); break
        case 'tick': tick(this.#s, parseTime(input.at)); break
        // Only what the rekeyer and the ticker write is an input: anything else another writer put on the
        // topic is poison to dead-letter, not a record to pass over unsaid (until 2026-12-05 it was).
        default: throw new Error(`not an engine input: type ${JSON.stringify((input as { type?: unknown } | null)?.type)} is none of alert, command, tick`)
      }
    } catch (err) {
      // Every input after it would meet the same limit: no poison, and this engine takes no more.
      if (isCapacityError(err)) throw (this.#full = new EngineCapacityError(err))
      throw err
    } finally {
      // An input that throws (poison) keeps what it changed up to the throw: that is a version of its own,
      // so a later input's version never holds it, whichever batch either falls in.
      this.#version()
    }
  }

  /**
   * The latest version of each incident and problem changed since the last drain, and every command's
   * result, in the order they first changed; a drain after a single `applyBuffered` gives what `apply` gives.
   */
  drainOutputs(): EngineOutput[] {
    const incidents = this.#changedIncidents
    const problems = this.#changedProblems
    const results = this.#commandResults
    if (incidents.length === 0 && problems.size === 0 && results.length === 0) return []
    // Sized once: a list that grows from empty takes room for 17 on its first push.
    const out = new Array<EngineOutput>(incidents.length + problems.size + results.length)
    let n = 0
    const { maxAlertsInDocument, maxEntriesInDocument: max } = CorrelationEngine
    for (const inc of incidents) {
      inc.changed = false
      out[n++] = { type: 'incident', incident: copyIncident(inc.data, maxAlertsInDocument, max) }
    }
    // Services and notes are never changed in place (a change makes a new array) and notes are immutable
    // values, so a version shares them; the incident ids change in place and are copied.
    for (const p of problems) out[n++] = { type: 'problem', problem: { ...p, incidentIds: p.incidentIds.slice(), notes: p.notes.length <= max ? p.notes : p.notes.slice(-max) } }
    for (const result of results) out[n++] = { type: 'command-result', result }
    this.#changedIncidents = []
    problems.clear()
    this.#commandResults = []
    return out
  }

  incident(id: string): Incident | undefined {
    return this.#s.incidents.get(id)?.data
  }

  problem(id: string): Problem | undefined {
    return this.#s.problems.get(id)
  }

  /** Every incident and problem the engine holds, for comparisons and tests. */
  incidents(): Incident[] {
    return [...this.#s.incidents.values()].map((s) => s.data)
  }

  problems(): Problem[] {
    return [...this.#s.problems.values()]
  }

  /**
   * The whole state as plain data; `new CorrelationEngine(config, snapshot)` continues from it. It shares
   * the immutable parts of the live state (no copy of a large state per checkpoint); later applies do not
   * change it, so it may be serialised while the engine goes on.
   */
  snapshot(): EngineSnapshot {
    return takeSnapshot(this.#s)
  }

  /**
   * `snapshot()` in steps, for a large state (seconds at a million alerts): the caller may let other work
   * run between steps, but must apply nothing to this engine until the generator returns the snapshot.
   */
  snapshotSteps(membersPerStep?: number): Generator<undefined, EngineSnapshot> {
    return snapshotSteps(this.#s, membersPerStep)
  }

  /** The input's changes become versions: each incident and problem it changed once, as the input left it. */
  #version(): void {
    const s = this.#s
    const dirty = s.dirtyIncidents
    let i = 0
    try {
      for (; i < dirty.length; i++) {
        const inc = dirty[i]!
        recompute(s, inc)
        inc.data.version += 1
        compactResolved(inc)
        inc.dirty = false
        if (!inc.changed) { inc.changed = true; this.#changedIncidents.push(inc) }
      }
    } finally {
      // Emptied in place (a new list per input is garbage); after a throw, the incidents not versioned yet stay.
      if (i === dirty.length) dirty.length = 0
      else dirty.splice(0, i)
    }
    // Few inputs change a problem, and clearing even an empty Set makes it a new table.
    if (s.dirtyProblems.size > 0) {
      for (const p of s.dirtyProblems) {
        p.version += 1
        this.#changedProblems.add(p)
      }
      s.dirtyProblems.clear()
    }
    if (s.results.length > 0) {
      for (const result of s.results) {
        // Versioned above: the target's version now shows the command.
        const version = !result.ok ? undefined : result.target.startsWith('inc-') ? s.incidents.get(result.target)?.data.version : s.problems.get(result.target)?.version
        this.#commandResults.push(version === undefined ? result : { ...result, version })
      }
      s.results = []
    }
    if (s.forgetAfterVersion.length > 0) {
      for (const id of s.forgetAfterVersion) s.incidents.delete(id)
      s.forgetAfterVersion.length = 0
    }
  }
}
