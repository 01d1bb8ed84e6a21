// The rules file as written, its compiled form, and the defaults. Compiling turns every matcher into a
// test and every `by` list into a key builder once, so applying the rules per alert builds no regex.
import { RE2JS } from 're2js'

export type Source = 'alertmanager' | 'pingdom' | 'report'

/** A regex as the file gives it: RE2's syntax (as Alertmanager's and Prometheus's), anchored at both ends. */
export interface RegexSpec { regex: string }
export type ValueMatcherSpec = string | RegexSpec
export type LabelMatcherSpec = string | RegexSpec | { present: boolean }

export interface MatchSpec {
  source?: ValueMatcherSpec
  service?: ValueMatcherSpec
  environment?: ValueMatcherSpec
  labels?: Record<string, LabelMatcherSpec>
}

export interface ServiceRuleSpec {
  name?: string
  match: { labels?: Record<string, LabelMatcherSpec> }
  labels: string[]
}

export interface GroupRuleSpec {
  name?: string
  match: MatchSpec
  by: string[]
}

/** The file's shape (schemas/grouping-rules.v1.json). Every key but `version` may be left out. */
export interface GroupingRulesFile {
  version: 1
  service?: { labels?: string[]; rules?: ServiceRuleSpec[] }
  environment?: { labels?: string[]; default?: string }
  incidentKeyLabel?: string | null
  groupBy?: { rules?: GroupRuleSpec[]; default?: string[]; joinAlertmanagerGroups?: boolean }
}

/** What a matcher reads. Service rules see labels only: service and environment are what they decide. */
export interface MatchInput {
  readonly source: string
  readonly service: string
  readonly environment: string
  readonly labels: Readonly<Record<string, string>>
}

export interface CompiledServiceRule {
  readonly name: string | undefined
  readonly test: (labels: Readonly<Record<string, string>>) => boolean
  readonly labels: readonly string[]
}

/** One `by` list, canonical: sorted, without repeats, always with `environment`. */
export interface CompiledBy {
  /** The field names as written into the key. */
  readonly fields: readonly string[]
  readonly key: (event: MatchInput & { readonly fingerprint: string }) => string
}

export interface CompiledGroupRule {
  readonly name: string | undefined
  readonly test: (input: MatchInput) => boolean
  readonly by: CompiledBy
}

/** Compiled, immutable grouping rules: what the receiver and the correlator apply. */
export interface GroupingRules {
  readonly service: { readonly labels: readonly string[]; readonly rules: readonly CompiledServiceRule[] }
  readonly environment: { readonly labels: readonly string[]; readonly default: string }
  /** An alert carrying this label groups by its value alone, within its environment; null: no override. */
  readonly incidentKeyLabel: string | null
  readonly groupBy: {
    readonly rules: readonly CompiledGroupRule[]
    readonly default: CompiledBy
    /** No rules, and the default is service and environment: the correlator's cached fast path applies. */
    readonly byServiceAndEnvironment: boolean
    /**
     * Alerts of one Alertmanager notification group (its `groupKey`) with the same service, grouped by the
     * default `by`, join one open incident even where their group keys differ: the sender grouped them. An
     * incident key or a rule is the user's own grouping, never joined so. False keeps to the keys alone.
     */
    readonly joinAlertmanagerGroups: boolean
  }
  /** The complete document these rules were compiled from, defaults filled in (for logs and replay reports). */
  readonly document: Readonly<Required<GroupingRulesFile>>
}

/**
 * Exporters whose alerts describe someone else's workload: kube-state-metrics (pods, deployments, jobs,
 * nodes, quotas), the kubelet and cAdvisor (containers, volumes), node-exporter (nodes). Their `service`
 * and `job` labels name the exporter, so their alerts look for the workload first (docs/grouping.md
 * explains the order). Some mixin rules aggregate `job` away but keep `service`, the exporter's Kubernetes
 * Service (`<release>-kubelet` on `CPUThrottlingHigh`): such alerts are known by that.
 */
const EXPORTER_JOBS = 'kube-state-metrics|kubelet|cadvisor|node-exporter'
const EXPORTER_SERVICES = '(.+-)?(kube-state-metrics|kubelet|cadvisor|prometheus-node-exporter|node-exporter)'
const WORKLOAD_LABELS = ['deployment', 'statefulset', 'daemonset', 'cronjob', 'job_name', 'horizontalpodautoscaler', 'poddisruptionbudget']
const OBJECT_LABELS = [...WORKLOAD_LABELS, 'persistentvolumeclaim', 'persistentvolume']
// A container's own alert keeps its container even where the target adds `node` (every kubelet target does).
const EXPORTER_SUBJECT_LABELS = [...OBJECT_LABELS, 'container', 'node', 'resourcequota', 'job']
// A kube-state-metrics series with no container of its own (a node's, a volume's, a quota's, a PDB's)
// carries the exporter's own `container` and `job`: never its service. Without an object label the
// receiver falls back to the alert's name, which at least keeps apart alerts about different things.
const KSM_OWN_CONTAINER_LABELS = [...OBJECT_LABELS, 'node', 'resourcequota']
// Only a series kube-state-metrics exported has its own container for want of one: the target's `service`
// says so (kept where a rule drops `job`, as KubeQuotaAlmostFull does). The kubelet's and cAdvisor's alerts
// about the kube-state-metrics container (CPUThrottlingHigh, KubeContainerWaiting) are that container's.
const KSM_SERVICE = '(.+-)?kube-state-metrics'
/**
 * kube-prometheus-stack's meta-alerts: `Watchdog` always fires, and `InfoInhibitor` copies the labels of the
 * info alert it inhibits (its service among them). They are about the alerting pipeline, no workload.
 */
const META_ALERTS = 'Watchdog|InfoInhibitor'
const SERVICE_RULES: ServiceRuleSpec[] = [
  { name: "kube-prometheus-stack's meta-alerts are their own", match: { labels: { alertname: { regex: META_ALERTS } } }, labels: ['alertname'] },
  { name: "kube-state-metrics' series about no container", match: { labels: { container: 'kube-state-metrics', service: { regex: KSM_SERVICE } } }, labels: KSM_OWN_CONTAINER_LABELS },
  { name: 'kubernetes exporters describe a workload', match: { labels: { job: { regex: EXPORTER_JOBS } } }, labels: EXPORTER_SUBJECT_LABELS },
  { name: "kubernetes exporters' alerts without their job", match: { labels: { service: { regex: EXPORTER_SERVICES } } }, labels: EXPORTER_SUBJECT_LABELS },
]

/** The defaults, written as a file would be: they suit kube-prometheus-stack and plain Prometheus alike. */
export const defaultGroupingRulesFile: Readonly<Required<GroupingRulesFile>> = deepFreeze({
  version: 1,
  service: {
    // `job_name` and `node` for kubernetes-mixin rules that aggregate down to a Job or a node (KubeJobNotCompleted, KubeletTooManyPods).
    labels: ['service', 'app.kubernetes.io/name', 'app', 'container', 'job_name', 'job', 'node'],
    rules: SERVICE_RULES,
  },
  environment: { labels: ['env', 'environment', 'cluster'], default: 'production' },
  incidentKeyLabel: 'incident_key',
  groupBy: { rules: [], default: ['service', 'environment'], joinAlertmanagerGroups: true },
})

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** A label's value read by own property, empty counting as absent (as in Prometheus). */
export function labelValue(labels: Readonly<Record<string, string>>, name: string): string | undefined {
  // The plain read first: most lookups miss, and a miss needs no own-property check (this runs per alert).
  const v = labels[name]
  return typeof v === 'string' && v !== '' && Object.hasOwn(labels, name) ? v : undefined
}

type StringTest = (value: string) => boolean

/**
 * A regex matcher, anchored like Alertmanager's and Prometheus's: `api` does not match `api-gateway`. RE2, as
 * theirs (Go's regexp), here its JavaScript port `re2js`: it runs in time linear in the value, where
 * JavaScript's backtracking took 4.9 s for `(a+)+b` against 28 `a`s, and a label's value is any sender's, so
 * one rule hung the receiver and the correlator's partition (until 2026-12-05). RE2's syntax, as theirs: no
 * lookaround or backreferences. A test costs ~0.2 µs against RegExp's 0.03. The source is compiled alone
 * first: `api)|(.*` is no regex, but wrapped it closed the anchoring group and matched anything.
 */
export function compileRegex(source: string): StringTest {
  RE2JS.compile(source)
  const re = RE2JS.compile(`^(?:${source})$`)
  return (value) => re.matches(value)
}

function valueTest(spec: ValueMatcherSpec): StringTest {
  if (typeof spec === 'string') return (v) => v === spec
  return compileRegex(spec.regex)
}

type LabelsTest = (labels: Readonly<Record<string, string>>) => boolean

function labelsTest(specs: Readonly<Record<string, LabelMatcherSpec>> | undefined): LabelsTest[] {
  const tests: LabelsTest[] = []
  for (const [name, spec] of Object.entries(specs ?? {})) {
    // `team: ""` holds for a missing or empty label, as Alertmanager's and Prometheus's `team=""`.
    if (typeof spec === 'string') tests.push((l) => (labelValue(l, name) ?? '') === spec)
    else if ('present' in spec) tests.push(spec.present ? (l) => labelValue(l, name) !== undefined : (l) => labelValue(l, name) === undefined)
    else {
      // An absent label is the empty string to a regex, as in Prometheus: `.*` holds without the label.
      const matches = compileRegex(spec.regex)
      tests.push((l) => matches(labelValue(l, name) ?? ''))
    }
  }
  return tests
}

function matchTest(spec: MatchSpec): (input: MatchInput) => boolean {
  const tests: ((input: MatchInput) => boolean)[] = []
  if (spec.source !== undefined) { const t = valueTest(spec.source); tests.push((i) => t(i.source)) }
  if (spec.service !== undefined) { const t = valueTest(spec.service); tests.push((i) => t(i.service)) }
  if (spec.environment !== undefined) { const t = valueTest(spec.environment); tests.push((i) => t(i.environment)) }
  for (const t of labelsTest(spec.labels)) tests.push((i) => t(i.labels))
  return (input) => {
    for (const t of tests) if (!t(input)) return false
    return true
  }
}

/** A `by` field naming a label: `labels.<name>`. */
export const LABEL_PREFIX = 'labels.'

/**
 * A `by` list as a key builder. The key is canonical JSON of the field names and their values, so no value
 * (a `|`, a quote, any code point) can make two groups one, and two rules naming the same fields in another
 * order give the same group. Service and environment alone keep the shorter key the engine always used,
 * `["<service>","<environment>"]`, so open incidents keep their group across the upgrade.
 */
export function compileBy(by: readonly string[]): CompiledBy {
  const fields = [...new Set([...by, 'environment'])].sort()
  if (fields.length === 2 && fields[0] === 'environment' && fields[1] === 'service') {
    return { fields, key: (e) => serviceEnvironmentKey(e.service, e.environment) }
  }
  const getters = fields.map((f): ((e: MatchInput & { readonly fingerprint: string }) => string) => {
    if (f === 'service') return (e) => e.service
    if (f === 'environment') return (e) => e.environment
    if (f === 'source') return (e) => e.source
    if (f === 'fingerprint') return (e) => e.fingerprint
    const name = f.slice(LABEL_PREFIX.length)
    return (e) => labelValue(e.labels, name) ?? ''
  })
  const head = `[${JSON.stringify(fields)},`
  return {
    fields,
    key: (e) => {
      const values = new Array<string>(getters.length)
      for (let i = 0; i < getters.length; i++) values[i] = getters[i]!(e)
      return `${head}${JSON.stringify(values)}]`
    },
  }
}

/** The group key of the default grouping: the engine caches these per service and environment. */
export function serviceEnvironmentKey(service: string, environment: string): string {
  return JSON.stringify([service, environment])
}

/**
 * Compiles a document that already passed the schema (parseGroupingRules checks the regexes first).
 * Keys left out take the defaults'.
 */
export function compileGroupingRules(file: GroupingRulesFile): GroupingRules {
  const d = defaultGroupingRulesFile
  const document: Required<GroupingRulesFile> = {
    version: 1,
    service: { labels: file.service?.labels ?? d.service.labels, rules: file.service?.rules ?? d.service.rules },
    environment: { labels: file.environment?.labels ?? d.environment.labels, default: file.environment?.default ?? d.environment.default },
    incidentKeyLabel: file.incidentKeyLabel === undefined ? d.incidentKeyLabel : file.incidentKeyLabel,
    groupBy: {
      rules: file.groupBy?.rules ?? d.groupBy.rules,
      default: file.groupBy?.default ?? d.groupBy.default,
      joinAlertmanagerGroups: file.groupBy?.joinAlertmanagerGroups ?? d.groupBy.joinAlertmanagerGroups,
    },
  }
  const frozen = deepFreeze(structuredClone(document))
  const serviceRules = (frozen.service.rules ?? []).map((r): CompiledServiceRule => {
    const tests = labelsTest(r.match.labels)
    return {
      name: r.name,
      labels: r.labels,
      test: (labels) => {
        for (const t of tests) if (!t(labels)) return false
        return true
      },
    }
  })
  const groupRules = (frozen.groupBy.rules ?? []).map((r): CompiledGroupRule => ({ name: r.name, test: matchTest(r.match), by: compileBy(r.by) }))
  const byDefault = compileBy(frozen.groupBy.default ?? ['service', 'environment'])
  return deepFreeze({
    service: { labels: frozen.service.labels ?? [], rules: serviceRules },
    environment: { labels: frozen.environment.labels ?? [], default: frozen.environment.default ?? 'production' },
    incidentKeyLabel: frozen.incidentKeyLabel,
    groupBy: {
      rules: groupRules,
      default: byDefault,
      byServiceAndEnvironment: groupRules.length === 0 && byDefault.fields.length === 2 && byDefault.fields[1] === 'service',
      joinAlertmanagerGroups: frozen.groupBy.joinAlertmanagerGroups ?? true,
    },
    document: frozen,
  })
}

export const defaultGroupingRules: GroupingRules = compileGroupingRules(defaultGroupingRulesFile)
