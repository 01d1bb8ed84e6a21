import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fixture } from '@opsreview/testing'
import type { AlertEvent, AlertmanagerWebhook } from '@opsreview/schemas'
import {
  compileGroupingRules, defaultGroupingRules, environmentLabelOf, environmentOf, groupKeyOf, groupRuleOf, isUsableName, parseGroupingRules, relabel, serviceFromAlertname, serviceOf,
  MAX_SERVICE_CHARS, UNNAMED_SERVICE,
  type GroupingRules, type GroupingRulesFile,
} from './index.ts'

function rules(file: Omit<GroupingRulesFile, 'version'>): GroupingRules {
  const r = parseGroupingRules(JSON.stringify({ version: 1, ...file }), 'json')
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.rules
}

function event(over: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: '0'.repeat(32), source: 'alertmanager', fingerprint: 'fp', status: 'firing', severity: 'warning', service: 'api', environment: 'production',
    title: 't', labels: { alertname: 'X' }, startsAt: '2026-11-30T07:00:00.000Z', receivedAt: '2026-11-30T07:00:00.000Z', links: [], origin: {}, ...over,
  }
}

const kube = (name: string) => fixture<AlertmanagerWebhook>(`alertmanager/kube-prometheus-${name}.json`).alerts.map((a) => a.labels)

describe('service and environment precedence', () => {
  it('takes the first present, non-empty label, read as own properties', () => {
    const r = rules({ service: { labels: ['service', 'app', 'job'], rules: [] }, environment: { labels: ['env', 'cluster'], default: 'prod' } })
    expect(serviceOf({ app: 'web', job: 'node' }, r)).toBe('web')
    expect(serviceOf({ service: '', app: 'web' }, r)).toBe('web')
    expect(serviceOf({ alertname: 'X' }, r)).toBeUndefined()
    expect(serviceOf(JSON.parse('{"__proto__":"x"}') as Record<string, string>, rules({ service: { labels: ['constructor', '__proto__'] } }))).toBe('x')
    expect(environmentOf({ cluster: 'eu', env: 'staging' }, r)).toBe('staging')
    expect(environmentOf({ namespace: 'shop' }, r)).toBe('prod')
  })

  it('applies the first service rule that matches, else the default precedence', () => {
    const r = rules({
      service: {
        labels: ['service'],
        rules: [
          { match: { labels: { job: 'ksm', deployment: { present: true } } }, labels: ['deployment'] },
          { match: { labels: { job: { regex: 'ksm|kubelet' } } }, labels: ['container', 'job'] },
          { match: { labels: { job: 'ksm' } }, labels: ['never'] },
        ],
      },
    })
    expect(serviceOf({ job: 'ksm', deployment: 'cart', container: 'x', service: 'svc' }, r)).toBe('cart')
    expect(serviceOf({ job: 'ksm', container: 'api', service: 'svc' }, r)).toBe('api')
    expect(serviceOf({ job: 'kubelet', service: 'svc' }, r)).toBe('kubelet')
    expect(serviceOf({ job: 'ksm-2', service: 'svc' }, r)).toBe('svc')
  })

  it('by default names kube-prometheus alerts after the workload, not the exporter, and never takes the namespace as environment', () => {
    const [crash1, crash2, crash3] = kube('pod-crashlooping')
    expect([crash1, crash2, crash3].map((l) => serviceOf(l!, defaultGroupingRules))).toEqual(['checkout', 'checkout', 'cart'])
    expect(environmentOf(crash1!, defaultGroupingRules)).toBe('production')
    expect(serviceOf(kube('deployment-replicas-mismatch')[0]!, defaultGroupingRules)).toBe('checkout')
    const [down] = kube('target-down')
    expect([serviceOf(down!, defaultGroupingRules), environmentOf(down!, defaultGroupingRules)]).toEqual(['checkout', 'staging'])
    expect(serviceOf(kube('node-filesystem-filling-up')[0]!, defaultGroupingRules)).toBe('node-exporter')
    // A target of an exporter itself is down: the exporter is what is broken.
    expect(serviceOf({ alertname: 'TargetDown', job: 'kube-state-metrics', service: 'kube-prometheus-stack-kube-state-metrics', namespace: 'monitoring' }, defaultGroupingRules)).toBe('kube-state-metrics')
    // kubernetes-mixin's CPUThrottlingHigh aggregates `job` away and keeps the kubelet's Service: its container.
    expect(serviceOf({ alertname: 'CPUThrottlingHigh', container: 'search-indexer', pod: 'search-indexer-7d9f8-x2x4k', namespace: 'search', service: 'kube-prometheus-stack-kubelet', instance: '10.0.3.17:10250' }, defaultGroupingRules)).toBe('search-indexer')
    // A kubelet volume alert is about its claim, a node or quota alert of kube-state-metrics about its node or quota, not the exporter.
    expect(serviceOf({ alertname: 'KubePersistentVolumeFillingUp', job: 'kubelet', service: 'kube-prometheus-stack-kubelet', namespace: 'db', persistentvolumeclaim: 'data-postgres-0', node: 'ip-10-0-3-17', metrics_path: '/metrics' }, defaultGroupingRules)).toBe('data-postgres-0')
    const ksm = { job: 'kube-state-metrics', service: 'kube-prometheus-stack-kube-state-metrics', container: 'kube-state-metrics', pod: 'kube-prometheus-stack-kube-state-metrics-5c7b9-qk2lm', namespace: 'monitoring' }
    expect(serviceOf({ ...ksm, alertname: 'KubeNodeNotReady', node: 'ip-10-0-3-17', condition: 'Ready', status: 'true' }, defaultGroupingRules)).toBe('ip-10-0-3-17')
    // KubeQuotaAlmostFull's `ignoring(instance, job, type)` drops `job`.
    const { job: _job, ...ksmWithoutJob } = ksm
    expect(serviceOf({ ...ksmWithoutJob, alertname: 'KubeQuotaAlmostFull', namespace: 'analytics', resource: 'requests.cpu', resourcequota: 'analytics-compute' }, defaultGroupingRules)).toBe('analytics-compute')
    expect(serviceOf({ ...ksm, alertname: 'KubePersistentVolumeErrors', persistentvolume: 'pvc-3f2a', phase: 'Failed' }, defaultGroupingRules)).toBe('pvc-3f2a')
    // A container's alert from a kubelet target, which adds `node`, stays the container's.
    expect(serviceOf({ alertname: 'ContainerMemoryNearLimit', job: 'kubelet', service: 'kube-prometheus-stack-kubelet', metrics_path: '/metrics/cadvisor', node: 'ip-10-0-3-17', container: 'search-indexer', pod: 'search-indexer-7d9f8-x2x4k', namespace: 'search' }, defaultGroupingRules)).toBe('search-indexer')
    // A CronJob's runs are one service, the CronJob; a Job of its own keeps its name.
    const jobFailed = { ...ksm, alertname: 'KubeJobFailed', namespace: 'db', condition: 'true' }
    expect(['pg-backup-29894520', 'pg-backup-29895960', 'migrate-2024', 'reindex', 'db-migrate-1733140000', 'tenant-export-400123456'].map((name) => serviceOf({ ...jobFailed, job_name: name }, defaultGroupingRules)))
      .toEqual(['pg-backup', 'pg-backup', 'migrate-2024', 'reindex', 'db-migrate-1733140000', 'tenant-export-400123456'])
    // Plain Prometheus alerts keep the labels they always had, also a Service whose name merely contains an exporter's.
    expect(serviceOf({ service: 'kubelet-proxy-checker', container: 'x' }, defaultGroupingRules)).toBe('kubelet-proxy-checker')
    expect(serviceOf({ service: 'checkout', job: 'blackbox', app: 'x' }, defaultGroupingRules)).toBe('checkout')
    expect(serviceOf({ 'app.kubernetes.io/name': 'search', app: 'legacy', job: 'search-pods' }, defaultGroupingRules)).toBe('search')
  })
})

describe('label values that cannot name a service or an environment', () => {
  const r = rules({ service: { labels: ['service', 'app.kubernetes.io/name', 'app', 'container', 'job'], rules: [] }, environment: { labels: ['env', 'environment', 'cluster'], default: 'production' } })
  // C0 (NUL, tab, line break, ESC, U+001F), DEL and C1 (U+0080, NEL U+0085, U+009F): what the review's filters refuse.
  const controls = ['\u0000', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f']

  it('pass over a service label holding a control character, anywhere in it, to the next label', () => {
    for (const c of controls) {
      for (const bad of [`checkout${c}`, `${c}checkout`, `check${c}out`, c]) {
        expect(serviceOf({ service: bad, 'app.kubernetes.io/name': 'search', app: 'legacy' }, r)).toBe('search')
        expect(serviceOf({ service: bad, 'app.kubernetes.io/name': bad, app: 'legacy' }, r)).toBe('legacy')
      }
    }
    expect(serviceOf({ service: 'api\u007f', container: 'api-server', job: 'api' }, r)).toBe('api-server')
    expect(serviceOf({ service: 'api\u0085', app: 'api\u009f', job: 'api' }, r)).toBe('api')
  })

  it('pass over a blank service label, of any whitespace, to the next label', () => {
    for (const blank of [' ', '   ', '\u00a0', '\u2003', '\u3000', '\ufeff']) {
      expect(serviceOf({ service: blank, app: 'web' }, r)).toBe('web')
    }
    // Printable text around spaces is a name.
    expect(serviceOf({ service: ' checkout ', app: 'web' }, r)).toBe(' checkout ')
  })

  it('name no service when every label is unusable, so the alert falls back to its name', () => {
    const labels = { alertname: 'HighErrorRate', service: 'checkout\n', 'app.kubernetes.io/name': ' ', app: '\u0085', container: '', job: 'x\u007f' }
    expect(serviceOf(labels, r)).toBeUndefined()
    expect(relabel(event({ service: 'stale', labels }), r)).toMatchObject({ service: 'HighErrorRate', labels })
  })

  it('make an alertname that could not be found a usable service name, and name a blank one unnamed', () => {
    expect(serviceFromAlertname('HighErrorRate')).toBe('HighErrorRate')
    expect(serviceFromAlertname(' Padded ')).toBe(' Padded ')
    expect(serviceFromAlertname('Disk\nFull')).toBe('Disk Full')
    expect(serviceFromAlertname('\u001b[31mRed\u001b[0m')).toBe('[31mRed [0m')
    expect(serviceFromAlertname('\tCert\u0085\u009fExpiry\r\n')).toBe('Cert Expiry')
    for (const blank of [' ', '\u00a0', '\n', '\u0000\u007f', ' \t\u0090 ']) expect(serviceFromAlertname(blank)).toBe(UNNAMED_SERVICE)
    // Up to a label value's 4,096: longer than a service's name, it is cut to it (in code points, its ends trimmed).
    expect(serviceFromAlertname('n'.repeat(4096))).toBe('n'.repeat(256))
    expect(serviceFromAlertname(`${'🙂'.repeat(255)} tail`)).toBe('🙂'.repeat(255))
    expect(serviceFromAlertname('a\u0000'.repeat(200))).toBe(`${'a '.repeat(128)}`.trimEnd())
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => isUsableName(serviceFromAlertname(name), MAX_SERVICE_CHARS)), { numRuns: 2000 })
    const labels = { alertname: 'Disk\u0000Full', service: '\n' }
    expect(relabel(event({ service: 'stale', labels }), r)).toMatchObject({ service: 'Disk Full', labels })
  })

  it('pass over a label longer than the name it would give, which the event would be refused for', () => {
    expect(serviceOf({ service: 's'.repeat(257), app: 'web' }, r)).toBe('web')
    expect(serviceOf({ service: 's'.repeat(256), app: 'web' }, r)).toBe('s'.repeat(256))
    expect(environmentOf({ env: 'e'.repeat(129), environment: 'qa' }, r)).toBe('qa')
    expect(environmentOf({ env: 'e'.repeat(129) }, r)).toBe('production')
    const labels = { alertname: 'HighErrorRate', service: 'x'.repeat(300) }
    expect(relabel(event({ service: 'stale', labels }), r)).toMatchObject({ service: 'HighErrorRate', labels })
  })

  it('pass over an environment label so too, else the default', () => {
    expect(environmentOf({ env: 'staging\n', environment: 'qa', cluster: 'eu' }, r)).toBe('qa')
    expect(environmentOf({ env: '  ', environment: 'qa\u007f', cluster: 'eu-1' }, r)).toBe('eu-1')
    expect(environmentOf({ env: '\u0000', environment: '\u0090', cluster: ' ' }, r)).toBe('production')
    expect(environmentLabelOf({ env: '\u009f', cluster: '\t' }, r)).toBeUndefined()
    const labels = { alertname: 'X', env: 'prod\u0085', environment: '\t' }
    expect(relabel(event({ environment: 'stale', labels }), r)).toMatchObject({ environment: 'production', labels })
  })

  it('pass over a service rule\'s labels so too, the rule still chosen by the raw values', () => {
    // kube-state-metrics' alert about a Deployment whose name came through with a line break.
    const ksm = { alertname: 'KubeDeploymentReplicasMismatch', job: 'kube-state-metrics', service: 'kube-prometheus-stack-kube-state-metrics', namespace: 'shop' }
    expect(serviceOf({ ...ksm, deployment: 'checkout\n', container: 'checkout-api' }, defaultGroupingRules)).toBe('checkout-api')
    // A CronJob's run is named by its CronJob: the name it gives is what is checked.
    expect(serviceOf({ ...ksm, alertname: 'KubeJobFailed', job_name: '  -29894520', container: 'kube-state-metrics\u0000' }, defaultGroupingRules)).toBe('kube-state-metrics')
    expect(serviceOf({ ...ksm, alertname: 'KubeJobFailed', job_name: 'pg\u0085backup-29894520' }, defaultGroupingRules)).toBe('kube-state-metrics')
  })

  it('in a kube-prometheus-stack notification, leave the other alerts and every label as sent', () => {
    const [crash1, crash2, crash3] = kube('pod-crashlooping')
    // A container label mangled by a relabelling rule: the crash loop falls to the exporter's job, its
    // neighbours keep their container, and the raw label is still there to see.
    const mangled = { ...crash1!, container: 'checkout\u001b[31m' }
    expect([mangled, crash2!, crash3!].map((l) => serviceOf(l, defaultGroupingRules))).toEqual(['kube-state-metrics', 'checkout', 'cart'])
    const [down] = kube('target-down')
    const downMangled = { ...down!, service: 'checkout\r\n', cluster: 'staging\u0000' }
    expect([serviceOf(downMangled, defaultGroupingRules), environmentOf(downMangled, defaultGroupingRules)]).toEqual(['checkout', 'production'])
    const relabelled = relabel(event({ labels: downMangled }), defaultGroupingRules)
    expect(relabelled.labels).toEqual(downMangled)
    expect(relabelled.labels.service).toBe('checkout\r\n')
  })
})

describe("kube-state-metrics' own container and job", () => {
  const ksm = { container: 'kube-state-metrics', endpoint: 'http', instance: '10.244.1.17:8080', job: 'kube-state-metrics', pod: 'kube-prometheus-stack-kube-state-metrics-6c7b8d9f4-lm2np', service: 'kube-prometheus-stack-kube-state-metrics' }
  const named = (labels: Record<string, string>) => relabel(event({ service: '', labels: { ...ksm, severity: 'warning', ...labels } }), defaultGroupingRules).service

  it('never name the service: the object the series is about does, else the alert', () => {
    expect(named({ alertname: 'KubePdbNotEnoughHealthyPods', namespace: 'shop', poddisruptionbudget: 'checkout' })).toBe('checkout')
    expect(named({ alertname: 'KubeHpaMaxedOut', namespace: 'shop', horizontalpodautoscaler: 'checkout-hpa' })).toBe('checkout-hpa')
    expect(named({ alertname: 'KubeJobFailed', namespace: 'ops', job_name: 'pg-backup-29894520', condition: 'true' })).toBe('pg-backup')
    expect(named({ alertname: 'KubePersistentVolumeErrors', persistentvolume: 'pvc-3f1e0c2a', phase: 'Failed' })).toBe('pvc-3f1e0c2a')
    expect(named({ alertname: 'KubeQuotaFullyUsed', namespace: 'shop', resource: 'pods', resourcequota: 'shop-quota' })).toBe('shop-quota')
    expect(named({ alertname: 'KubeNodeUnreachable', node: 'ip-10-0-3-17', key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' })).toBe('ip-10-0-3-17')
    // An in-house rule on kube_namespace_status_phase: the namespace is all it has.
    expect(named({ alertname: 'NamespaceStuckTerminating', namespace: 'old-shop', phase: 'Terminating' })).toBe('NamespaceStuckTerminating')
  })

  it('are the service of alerts other exporters raise about the kube-state-metrics container', () => {
    // cAdvisor via the kubelet: the kubelet's Service, kube-state-metrics' container is the series' own.
    const { job: _j, endpoint: _e, ...target } = ksm
    expect(named({ ...target, alertname: 'CPUThrottlingHigh', instance: '10.0.3.17:10250', namespace: 'monitoring', service: 'kube-prometheus-stack-kubelet' })).toBe('kube-state-metrics')
    // kube-state-metrics' own series, aggregated down to the container: no exporter labels left.
    expect(relabel(event({ service: '', labels: { alertname: 'KubeContainerWaiting', container: 'kube-state-metrics', namespace: 'monitoring', pod: ksm.pod, reason: 'ImagePullBackOff' } }), defaultGroupingRules).service).toBe('kube-state-metrics')
    // Exported by kube-state-metrics and keeping its Service, though the rule dropped `job`: still the quota's.
    const { job: _job, ...withoutJob } = ksm
    expect(named({ ...withoutJob, alertname: 'KubeQuotaAlmostFull', namespace: 'shop', resource: 'requests.cpu', resourcequota: 'shop-quota' })).toBe('shop-quota')
  })
})

describe('matchers', () => {
  const r = rules({
    groupBy: {
      rules: [
        { name: 'pingdom per check', match: { source: 'pingdom' }, by: ['fingerprint'] },
        { name: 'db', match: { service: { regex: 'db|postgres-.+' } }, by: ['service', 'labels.instance'] },
        { name: 'canary', match: { environment: 'staging', labels: { track: 'canary', team: { present: true } } }, by: ['labels.team'] },
        { name: 'no-tier', match: { labels: { tier: { present: false } } }, by: ['labels.alertname'] },
        { name: 'anything empty', match: { labels: { tier: { regex: '.*' } } }, by: ['source'] },
      ],
      default: ['service'],
    },
  })
  const at = (e: Partial<AlertEvent>) => groupRuleOf(event(e), r)

  it('tests source, service, environment and labels, all given conditions together, first match winning', () => {
    expect(at({ source: 'pingdom', service: 'db' })).toBe('pingdom per check')
    expect(at({ service: 'db' })).toBe('db')
    expect(at({ service: 'postgres-main' })).toBe('db')
    expect(at({ environment: 'staging', labels: { track: 'canary', team: 'a', tier: '1' } })).toBe('canary')
    expect(at({ environment: 'staging', labels: { track: 'canary', team: '', tier: '1' } })).toBe('anything empty')
    expect(at({ labels: { tier: '' } })).toBe('no-tier')
    expect(at({ labels: { tier: 'x' } })).toBe('anything empty')
  })

  it('anchors regexes at both ends, as Alertmanager does', () => {
    expect(at({ service: 'db-replica', labels: { tier: 'x' } })).toBe('anything empty')
    expect(at({ service: 'mydb', labels: { tier: 'x' } })).toBe('anything empty')
  })

  it('runs a regex in time linear in the value (RE2, as Alertmanager)', () => {
    const nested = rules({ groupBy: { rules: [{ name: 'nested', match: { labels: { team: { regex: '(a+)+b' } } }, by: ['source'] }] } })
    // JavaScript's backtracking took 4.9 s for this against 28 a's, doubling with each more (40: hours, past any
    // test's time limit); a label is any sender's.
    for (const n of [28, 40, 4096]) expect(groupRuleOf(event({ labels: { team: 'a'.repeat(n) } }), nested), String(n)).toBeUndefined()
    // Each value as it is: one that matches, one that does not, the first again, and long ones.
    for (const [team, rule] of [['aab', 'nested'], ['aac', undefined], ['aab', 'nested'], ['b'.repeat(300), undefined], ['a'.repeat(300) + 'b', 'nested']] as const) {
      expect(groupRuleOf(event({ labels: { team } }), nested), team.slice(0, 10)).toBe(rule)
    }
  })

  it('an exact "" holds for a missing or empty label, as Alertmanager\'s team="" does', () => {
    const unowned = rules({ groupBy: { rules: [{ name: 'unowned', match: { labels: { team: '' } }, by: ['labels.alertname'] }] } })
    // kube-prometheus-stack's own alerts carry no team label.
    const [targetDown] = kube('target-down')
    expect(groupRuleOf(event({ labels: targetDown! }), unowned)).toBe('unowned')
    expect(groupRuleOf(event({ labels: { ...targetDown!, team: '' } }), unowned)).toBe('unowned')
    expect(groupRuleOf(event({ labels: { ...targetDown!, team: 'shop' } }), unowned)).toBeUndefined()
  })

  it('an empty match holds for every alert', () => {
    const all = rules({ groupBy: { rules: [{ match: {}, by: ['labels.team'] }] } })
    expect(groupKeyOf(event({ labels: { team: 'a' } }), all)).toBe(groupKeyOf(event({ service: 'other', labels: { team: 'a' } }), all))
  })
})

describe('groupKeyOf', () => {
  it('keeps the engine’s service and environment key for the defaults', () => {
    expect(groupKeyOf(event(), defaultGroupingRules)).toBe('["api","production"]')
    expect(defaultGroupingRules.groupBy.byServiceAndEnvironment).toBe(true)
  })

  it('groups by the incident-key label alone within the environment, ahead of every rule', () => {
    const r = rules({ incidentKeyLabel: 'ticket', groupBy: { rules: [{ match: {}, by: ['fingerprint'] }] } })
    const a = event({ fingerprint: 'a', service: 'db', labels: { ticket: 'INC-7' } })
    const b = event({ fingerprint: 'b', service: 'api', labels: { ticket: 'INC-7' } })
    expect(groupKeyOf(a, r)).toBe(groupKeyOf(b, r))
    expect(groupKeyOf(a, r)).not.toBe(groupKeyOf({ ...b, environment: 'staging' }, r))
    expect(groupKeyOf(event({ fingerprint: 'a', labels: { ticket: '' } }), r)).not.toBe(groupKeyOf(event({ fingerprint: 'b', labels: { ticket: '' } }), r))
    const off = rules({ incidentKeyLabel: null })
    expect(groupKeyOf(a, off)).not.toBe(groupKeyOf(b, off))
  })

  it('always includes the environment, and ignores the order fields are named in', () => {
    const r1 = rules({ groupBy: { default: ['labels.team'] } })
    const r2 = rules({ groupBy: { default: ['environment', 'labels.team'] } })
    const e = event({ labels: { team: 'payments' } })
    expect(groupKeyOf(e, r1)).toBe(groupKeyOf(e, r2))
    expect(groupKeyOf(e, r1)).not.toBe(groupKeyOf({ ...e, environment: 'staging' }, r1))
    const r3 = rules({ groupBy: { default: ['service', 'labels.team'] } })
    const r4 = rules({ groupBy: { default: ['labels.team', 'service'] } })
    expect(groupKeyOf(e, r3)).toBe(groupKeyOf(e, r4))
  })

  it('tells fields apart: a label named like a field, or another field with the same value, is another group', () => {
    const bySource = rules({ groupBy: { default: ['source'] } })
    const byLabel = rules({ groupBy: { default: ['labels.source'] } })
    const e = event({ labels: { source: 'alertmanager' } })
    expect(groupKeyOf(e, bySource)).not.toBe(groupKeyOf(e, byLabel))
  })

  it('is injective: values holding |, quotes, brackets, NUL or any code point never make two groups one', () => {
    const r = rules({ groupBy: { default: ['service', 'labels.team', 'fingerprint'] } })
    const tricky = fc.oneof(fc.constantFrom('', '|', 'a|b', '"', '","', '\\', '[', ']', '\u0000', 'é', 'e\u0301', '😀', '\ud800'), fc.string({ unit: 'binary', maxLength: 12 }))
    const triple = fc.tuple(tricky, tricky, tricky, fc.constantFrom('production', 'p|q'))
    fc.assert(fc.property(triple, triple, ([s1, t1, f1, e1], [s2, t2, f2, e2]) => {
      const k1 = groupKeyOf(event({ service: s1, fingerprint: f1, environment: e1, labels: { team: t1 } }), r)
      const k2 = groupKeyOf(event({ service: s2, fingerprint: f2, environment: e2, labels: { team: t2 } }), r)
      const same = s1 === s2 && (t1 || '') === (t2 || '') && f1 === f2 && e1 === e2
      return (k1 === k2) === same
    }), { numRuns: 300 })
    fc.assert(fc.property(triple, triple, ([s1, , , e1], [s2, , , e2]) =>
      (groupKeyOf(event({ service: s1, environment: e1 }), defaultGroupingRules) === groupKeyOf(event({ service: s2, environment: e2 }), defaultGroupingRules)) === (s1 === s2 && e1 === e2)))
  }, 30_000)

  it('keeps the short key only for exactly service and environment', () => {
    expect(compileGroupingRules({ version: 1, groupBy: { default: ['environment', 'service'] } }).groupBy.byServiceAndEnvironment).toBe(true)
    expect(compileGroupingRules({ version: 1, groupBy: { default: ['service'] } }).groupBy.byServiceAndEnvironment).toBe(true)
    expect(compileGroupingRules({ version: 1, groupBy: { rules: [{ match: {}, by: ['service'] }] } }).groupBy.byServiceAndEnvironment).toBe(false)
    // Three fields never collide with the two-field key, even where values are made to look alike.
    const r = rules({ groupBy: { default: ['service', 'source'] } })
    expect(groupKeyOf(event(), r)).toBe('[["environment","service","source"],["production","api","alertmanager"]]')
  })
})

describe('relabel', () => {
  const team = rules({ service: { labels: ['team_service'], rules: [] }, environment: { labels: ['stage'], default: 'prd' } })

  it('recomputes an Alertmanager alert as the receiver would, the alertname when no label names the service', () => {
    const e = event({ labels: { alertname: 'HighLatency', team_service: 'search', stage: 'qa', service: 'api' } })
    expect(relabel(e, team)).toMatchObject({ service: 'search', environment: 'qa', id: e.id, labels: e.labels })
    expect(relabel(event({ labels: { alertname: 'HighLatency' } }), team)).toMatchObject({ service: 'HighLatency', environment: 'prd' })
  })

  it('leaves Pingdom checks and reports as they are, whatever labels the rules name: the receiver took theirs from tags and the filer', () => {
    const check = event({ source: 'pingdom', service: 'shop', environment: 'staging', labels: { alertname: 'shop home', check_id: '1', host: 'shop.example' } })
    expect(relabel(check, team)).toBe(check)
    expect(relabel(check, rules({ service: { labels: ['host'] } }))).toBe(check)
    // A precedence ending in alertname, as live rules may have: the check keeps the service its tag gave.
    expect(relabel(check, rules({ service: { labels: ['service', 'app', 'job', 'alertname'] } }))).toBe(check)
    const report = event({ source: 'report', service: 'billing', environment: 'production', labels: { alertname: 'report:manual', report_kind: 'manual' } })
    expect(relabel(report, team)).toBe(report)
    expect(relabel(report, rules({ service: { labels: ['alertname'] }, environment: { labels: ['report_kind'] } }))).toBe(report)
  })

  it('returns the same object when nothing changes, and never changes the input', () => {
    const e = event({ service: 'api', labels: { alertname: 'X', service: 'api' } })
    expect(relabel(e, defaultGroupingRules)).toBe(e)
    const frozen = Object.freeze(event({ labels: Object.freeze({ alertname: 'X', app: 'web' }) }))
    expect(relabel(frozen, defaultGroupingRules).service).toBe('web')
  })
})
