/**
 * The chaos run's settings: sizes, durations and which faults, from flags or OPSREVIEW_CHAOS_* variables
 * (flags win), with the full run's defaults. `shortChaosOptions` is the CI variant.
 */

export const FAULT_KINDS = ['receiver', 'correlator', 'indexer', 'kafka', 'elasticsearch'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export interface ChaosOptions {
  /** Good alerts, each fired once and resolved once through Alertmanager: twice as many alert states. */
  alerts: number
  /** Incident groups (service × environment) the alerts spread over: the incidents to expect. */
  groups: number
  /** How long alerts keep being fired; the faults fall inside this window. */
  fireMs: number
  /** Faults, each once, in a random order, one at a time. */
  faults: FaultKind[]
  /** Times the whole fault list is run (each round shuffled anew), spread over the fire window. */
  rounds: number
  /** How long Elasticsearch stays SIGSTOPped. */
  esStopMs: number
  /** Poison alerts to post (0–8, in catalogue order). */
  poison: number
  /** Deadline for the pipeline to settle before the oracle counts what is there. */
  settleMs: number
  /** Seed of the fault schedule and the alert timing, so a failing run can be repeated. */
  seed: number
  /** Correlator quiet period: short, so incidents resolve within the run and resolution is replayed too. */
  quietPeriodMs: number
  /**
   * Correlator allowed lateness (OPSREVIEW_ALLOWED_LATENESS): the engine applies an event, and emits its
   * incident, this long after its time. Short, so incidents appear within the run.
   */
  latenessMs: number
  /** Keep the run's topics and indices for inspection (the default deletes them). */
  keep: boolean
  /**
   * Cluster mode (docs/cluster.md): the stack's Kafka is a cluster (chaos.sh starts three nodes), each
   * service runs twice, Alertmanager posts to both receivers, and the Kafka fault kills one node.
   */
  cluster: boolean
}

/** Instances of each service a run starts: two in cluster mode. */
export const instancesOf = (o: Pick<ChaosOptions, 'cluster'>): number => (o.cluster ? 2 : 1)

export const fullChaosOptions: ChaosOptions = Object.freeze({
  alerts: 300, groups: 60, fireMs: 240_000, faults: [...FAULT_KINDS], rounds: 1, esStopMs: 30_000, poison: 8,
  settleMs: 240_000, seed: Date.now() % 1_000_000, quietPeriodMs: 15_000, latenessMs: 10_000, keep: false, cluster: false,
})

/** The CI variant: fewer alerts, shorter outages, every fault kind still once; under 3 minutes. */
export const shortChaosOptions: ChaosOptions = Object.freeze({
  ...fullChaosOptions, alerts: 40, groups: 8, fireMs: 40_000, esStopMs: 8_000, poison: 4, settleMs: 90_000,
})

export function parseDuration(raw: string): number {
  const m = /^(\d+)\s*(ms|s|m)?$/.exec(raw.trim())
  if (!m) throw new Error(`not a duration like 500ms, 30s or 4m: ${JSON.stringify(raw)}`)
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm']
}

function parseCount(raw: string, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

function parseFaults(raw: string): FaultKind[] {
  if (raw.trim() === 'none') return []
  const kinds = raw.split(',').map((s) => s.trim()).filter(Boolean)
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault ${JSON.stringify(k)}; known: ${FAULT_KINDS.join(', ')}, or none`)
  return kinds as FaultKind[]
}

const settings: Record<string, { env: string; apply: (o: ChaosOptions, raw: string) => void; doc: string }> = {
  alerts: { env: 'OPSREVIEW_CHAOS_ALERTS', doc: 'good alerts (each fired and resolved)', apply: (o, r) => { o.alerts = parseCount(r, 'alerts') } },
  groups: { env: 'OPSREVIEW_CHAOS_GROUPS', doc: 'incident groups (service × environment)', apply: (o, r) => { o.groups = parseCount(r, 'groups') } },
  fire: { env: 'OPSREVIEW_CHAOS_FIRE', doc: 'how long alerts keep being fired, e.g. 4m', apply: (o, r) => { o.fireMs = parseDuration(r) } },
  faults: { env: 'OPSREVIEW_CHAOS_FAULTS', doc: `faults, comma-separated (${FAULT_KINDS.join(',')}) or none`, apply: (o, r) => { o.faults = parseFaults(r) } },
  rounds: { env: 'OPSREVIEW_CHAOS_ROUNDS', doc: 'times the fault list is run', apply: (o, r) => { o.rounds = Math.max(1, parseCount(r, 'rounds')) } },
  'es-stop': { env: 'OPSREVIEW_CHAOS_ES_STOP', doc: 'how long Elasticsearch stays stopped, e.g. 30s', apply: (o, r) => { o.esStopMs = parseDuration(r) } },
  poison: { env: 'OPSREVIEW_CHAOS_POISON', doc: 'poison alerts to post (0-8)', apply: (o, r) => { o.poison = parseCount(r, 'poison', 8) } },
  settle: { env: 'OPSREVIEW_CHAOS_SETTLE', doc: 'deadline for the pipeline to settle, e.g. 4m', apply: (o, r) => { o.settleMs = parseDuration(r) } },
  seed: { env: 'OPSREVIEW_CHAOS_SEED', doc: 'seed of the schedule', apply: (o, r) => { o.seed = parseCount(r, 'seed') } },
  lateness: { env: 'OPSREVIEW_CHAOS_LATENESS', doc: 'correlator allowed lateness, e.g. 10s', apply: (o, r) => { o.latenessMs = parseDuration(r) } },
  'quiet-period': { env: 'OPSREVIEW_CHAOS_QUIET_PERIOD', doc: 'correlator quiet period, e.g. 15s', apply: (o, r) => { o.quietPeriodMs = parseDuration(r) } },
}

export const chaosUsage = `usage: pnpm chaos [--short] [--keep] [--cluster] ${Object.keys(settings).map((k) => `[--${k} V]`).join(' ')}\n${
  Object.entries(settings).map(([k, s]) => `  --${k.padEnd(13)} ${s.env.padEnd(30)} ${s.doc}`).join('\n')}`

/** Defaults, then OPSREVIEW_CHAOS_* variables, then flags. `--short` starts from the CI variant. */
export function chaosOptionsFrom(argv: readonly string[], env: NodeJS.ProcessEnv): ChaosOptions {
  const short = argv.includes('--short') || env.OPSREVIEW_CHAOS_SHORT === '1'
  const o: ChaosOptions = { ...(short ? shortChaosOptions : fullChaosOptions), faults: [...(short ? shortChaosOptions : fullChaosOptions).faults] }
  for (const s of Object.values(settings)) { const raw = env[s.env]; if (raw !== undefined && raw !== '') s.apply(o, raw) }
  if (env.OPSREVIEW_CHAOS_KEEP === '1') o.keep = true
  if (env.OPSREVIEW_CHAOS_CLUSTER === '1') o.cluster = true
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--short') continue
    if (arg === '--keep') { o.keep = true; continue }
    if (arg === '--cluster') { o.cluster = true; continue }
    const [name, inline] = arg.startsWith('--') ? arg.slice(2).split('=', 2) as [string, string | undefined] : [arg, undefined]
    const s = settings[name]
    if (!s) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${chaosUsage}`)
    const raw = inline ?? argv[++i]
    if (raw === undefined) throw new Error(`--${name} needs a value`)
    s.apply(o, raw)
  }
  if (o.groups < 1 || o.alerts < o.groups) throw new Error(`need at least one group and at least as many alerts as groups (alerts ${o.alerts}, groups ${o.groups})`)
  return o
}
