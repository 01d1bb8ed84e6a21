/**
 * Scores what a pipeline made of a labelled corpus against its truth. Pure: incidents and problems in
 * (as the engine emits them and the indexer stores them), numbers and a readable report out.
 *
 * - Membership, pairwise: every alert episode and report of the truth is placed in the engine incident
 *   that holds it; over all pairs of them, a pair is right when truth and engine agree on "same incident".
 *   Precision, recall and F1 of "same incident".
 * - Problems: a planted problem is found when an engine problem of its kind has its signature fields and
 *   links every planted incident; an engine problem that matches no planted one is false.
 * - Lifecycle: every finished incident of the truth must be resolved, every one still firing open.
 */
import type { Corpus, TruthEpisode } from './corpus.ts'

/** The fields of an engine incident the scorer reads (the incident document has them all). */
export interface ScoredIncident {
  id: string
  status: 'open' | 'resolved'
  environment: string
  services: string[]
  openedAt: string
  resolvedAt: string | null
  alerts: { key: string; firstSeenAt: string }[]
  reports: { title: string; at: string }[]
  problemIds: string[]
}

export interface ScoredProblem {
  id: string
  kind: string
  status: string
  signature: string
  /** The latest 100 of its incidents only: the incidents' `problemIds` name the rest. */
  incidentIds: string[]
}

/**
 * The incidents each problem is linked to: those whose `problemIds` name it, and those it names itself. A
 * problem document names only its latest 100, so a problem that caused more would otherwise look unlinked.
 */
export function incidentsByProblem(incidents: readonly ScoredIncident[], problems: readonly ScoredProblem[]): Map<string, Set<string>> {
  const linked = new Map(problems.map((p) => [p.id, new Set(p.incidentIds)]))
  for (const inc of incidents) for (const id of inc.problemIds) linked.get(id)?.add(inc.id)
  return linked
}

export interface Score {
  pairs: { precision: number; recall: number; f1: number; truePairs: number; falsePairs: number; missedPairs: number }
  incidents: { truth: number; engine: number; merged: { engine: string; truth: string[] }[]; split: { truth: string; engine: string[] }[]; unplaced: string[] }
  problems: { planted: number; found: string[]; missed: { label: string; why: string }[]; false: { id: string; kind: string; signature: string; truth: string[] }[] }
  lifecycle: { finished: number; resolved: number; notResolved: string[]; stillFiring: number; open: number; notOpen: string[] }
  /** Whether the acceptance holds: F1 ≥ 0.95, every problem found, none false, every finished incident resolved. */
  pass: boolean
  line: string
  report: string
}

export const F1_TARGET = 0.95

const episodeId = (e: TruthEpisode) => `${e.key}@${new Date(e.at).toISOString()}`

/**
 * The engine incident holding a truth episode: for an alert, the incident with that alert as a member
 * whose span (openedAt to resolvedAt, or on) holds the firing time; else the latest such incident opened
 * before it; else the earliest after. A report is found by its title and time among the reports.
 */
export function placeEpisodes(episodes: readonly TruthEpisode[], incidents: readonly ScoredIncident[]): Map<TruthEpisode, string | undefined> {
  const byKey = new Map<string, { id: string; from: number; to: number }[]>()
  const byReport = new Map<string, string>()
  for (const inc of incidents) {
    const from = Date.parse(inc.openedAt)
    const to = inc.resolvedAt === null ? Infinity : Date.parse(inc.resolvedAt)
    for (const a of inc.alerts) byKey.set(a.key, [...(byKey.get(a.key) ?? []), { id: inc.id, from, to }])
    for (const r of inc.reports) byReport.set(`report:${r.title}@${new Date(Date.parse(r.at)).toISOString()}`, inc.id)
  }
  const out = new Map<TruthEpisode, string | undefined>()
  for (const e of episodes) {
    if (e.kind === 'report') { out.set(e, byReport.get(episodeId(e))); continue }
    const spans = (byKey.get(e.key) ?? []).slice().sort((a, b) => a.from - b.from || a.id.localeCompare(b.id))
    const holding = spans.filter((s) => s.from <= e.at && e.at <= s.to)
    const before = spans.filter((s) => s.from <= e.at)
    out.set(e, (holding.at(-1) ?? before.at(-1) ?? spans[0])?.id)
  }
  return out
}

const pairs = (n: number) => (n * (n - 1)) / 2

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>()
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1)
  return m
}

/** Arrays compare as sets: the engine sorts alert names, the truth need not. */
const canonical = (v: unknown) => JSON.stringify(Array.isArray(v) ? [...(v as unknown[])].map(String).sort() : v)

function subsetOf(want: Record<string, unknown>, have: Record<string, unknown>): boolean {
  return Object.entries(want).every(([k, v]) => canonical(have[k]) === canonical(v))
}

export function score(corpus: Pick<Corpus, 'episodes' | 'incidents' | 'problems'>, incidents: readonly ScoredIncident[], problems: readonly ScoredProblem[]): Score {
  const placed = placeEpisodes(corpus.episodes, incidents)
  const engineOf = (e: TruthEpisode) => placed.get(e) ?? `unplaced:${episodeId(e)}`
  const eps = corpus.episodes

  // Pairwise membership.
  const samePredicted = [...countBy(eps, engineOf).values()].reduce((n, c) => n + pairs(c), 0)
  const sameTruth = [...countBy(eps, (e) => e.incident).values()].reduce((n, c) => n + pairs(c), 0)
  const truePairs = [...countBy(eps, (e) => `${e.incident}\u0000${engineOf(e)}`).values()].reduce((n, c) => n + pairs(c), 0)
  const precision = samePredicted === 0 ? 1 : truePairs / samePredicted
  const recall = sameTruth === 0 ? 1 : truePairs / sameTruth
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall)

  // Which engine incident each truth incident went to, and back.
  const truthToEngine = new Map<string, Set<string>>()
  const engineToTruth = new Map<string, Set<string>>()
  for (const e of eps) {
    const id = placed.get(e)
    if (id === undefined) continue
    truthToEngine.set(e.incident, (truthToEngine.get(e.incident) ?? new Set()).add(id))
    engineToTruth.set(id, (engineToTruth.get(id) ?? new Set()).add(e.incident))
  }
  const merged = [...engineToTruth].filter(([, t]) => t.size > 1).map(([engine, t]) => ({ engine, truth: [...t].sort() }))
  const split = [...truthToEngine].filter(([, e]) => e.size > 1).map(([truth, e]) => ({ truth, engine: [...e].sort() }))
  const unplaced = eps.filter((e) => placed.get(e) === undefined).map(episodeId)
  const byId = new Map(incidents.map((i) => [i.id, i]))

  // Problems, by signature, and whether they link the planted incidents.
  const linkedTo = incidentsByProblem(incidents, problems)
  const used = new Set<string>()
  const found: string[] = []
  const missed: { label: string; why: string }[] = []
  for (const p of corpus.problems) {
    const candidates = problems.filter((q) => q.kind === p.kind && subsetOf(p.signature, JSON.parse(q.signature) as Record<string, unknown>))
    for (const c of candidates) used.add(c.id)
    if (candidates.length === 0) { missed.push({ label: p.label, why: `no ${p.kind} problem with ${JSON.stringify(p.signature)}` }); continue }
    const linked = new Set(candidates.flatMap((c) => [...linkedTo.get(c.id)!]))
    const unlinked = p.incidents.filter((label) => ![...(truthToEngine.get(label) ?? [])].some((id) => linked.has(id)))
    if (unlinked.length > 0) missed.push({ label: p.label, why: `found, but not linked to ${unlinked.join(', ')}` })
    else found.push(p.label)
  }
  const falseProblems = problems.filter((q) => !used.has(q.id)).map((q) => ({
    id: q.id, kind: q.kind, signature: q.signature,
    truth: [...new Set([...linkedTo.get(q.id)!].flatMap((id) => [...(engineToTruth.get(id) ?? [])]))].sort(),
  }))

  // Lifecycle.
  const finished = corpus.incidents.filter((i) => i.finished)
  const notResolved = finished.filter((i) => {
    const ids = [...(truthToEngine.get(i.label) ?? [])]
    return ids.length === 0 || ids.some((id) => byId.get(id)?.status !== 'resolved')
  }).map((i) => i.label)
  const firing = corpus.incidents.filter((i) => i.open)
  const notOpen = firing.filter((i) => {
    const ids = [...(truthToEngine.get(i.label) ?? [])]
    return ids.length === 0 || ids.every((id) => byId.get(id)?.status !== 'open')
  }).map((i) => i.label)

  const engineIncidents = new Set([...placed.values()].filter((x): x is string => x !== undefined)).size
  const pass = f1 >= F1_TARGET && missed.length === 0 && falseProblems.length === 0 && notResolved.length === 0
  const pct = (x: number) => x.toFixed(3)
  const line = `corpus score: F1 ${pct(f1)} (precision ${pct(precision)}, recall ${pct(recall)}); incidents ${engineIncidents} for ${corpus.incidents.length} true; problems ${found.length}/${corpus.problems.length} found, ${falseProblems.length} false; finished ${finished.length - notResolved.length}/${finished.length} resolved; open ${firing.length - notOpen.length}/${firing.length} open; ${pass ? 'PASS' : 'FAIL'}`
  const report = [
    line,
    ...merged.map((m) => `  merged: engine incident ${m.engine} holds ${m.truth.join(' + ')}`),
    ...split.map((s) => `  split: ${s.truth} is spread over ${s.engine.length} engine incidents`),
    ...unplaced.map((u) => `  unplaced: ${u} is in no engine incident`),
    ...missed.map((m) => `  problem missed: ${m.label}: ${m.why}`),
    ...falseProblems.map((f) => `  false problem: ${f.kind} ${f.signature} over ${f.truth.join(', ') || 'nothing in the corpus'}`),
    ...notResolved.map((n) => `  not resolved: ${n} (finished), engine status ${[...(truthToEngine.get(n) ?? [])].map((id) => byId.get(id)?.status ?? 'missing').join('/') || 'no incident'}`),
    ...notOpen.map((n) => `  not open: ${n} (still firing)`),
  ].join('\n')
  return {
    pairs: { precision, recall, f1, truePairs, falsePairs: samePredicted - truePairs, missedPairs: sameTruth - truePairs },
    incidents: { truth: corpus.incidents.length, engine: engineIncidents, merged, split, unplaced },
    problems: { planted: corpus.problems.length, found, missed, false: falseProblems },
    lifecycle: { finished: finished.length, resolved: finished.length - notResolved.length, notResolved, stillFiring: firing.length, open: firing.length - notOpen.length, notOpen },
    pass, line, report,
  }
}
