/**
 * A labelled scenario corpus: eleven days of one team's monitoring traffic as its senders post it
 * (Alertmanager 0.25 webhooks, Pingdom state-change webhooks, people's reports), with the ground truth
 * a person would write down: which incident each alert episode and report belongs to, which problems
 * are planted (recurring, flapping, shared cause), which incidents are finished. Generated from a seed,
 * so the repository holds code, not data; the planted scenarios are fixed, the noise around them varies
 * with the seed. See docs/corpus.md.
 *
 * Payload shapes follow test/fixtures: Alertmanager groups by [alertname, service] (the e2e route), waits
 * 30 s before a group's first notification, flushes changes every 5 min, repeats a firing group every
 * 4 h, sends resolved alerts once (`endsAt` set, firing ones with the Go zero time) and then forgets
 * them; Pingdom sends one webhook per state change about a minute after it, in epoch seconds.
 */
import { createHash } from 'node:crypto'

export const MIN = 60_000
export const HOUR = 60 * MIN
export const DAY = 24 * HOUR

export type Sender = 'alertmanager' | 'pingdom' | 'report'

/** One HTTP request a sender makes: where, what, and when it would have sent it live. */
export interface Delivery {
  sender: Sender
  path: '/webhooks/alertmanager' | '/webhooks/pingdom' | '/api/v1/reports'
  body: Record<string, unknown>
  /** When the sender sent it live (epoch ms). */
  sentAt: number
}

/**
 * One thing the truth places in an incident: an alert's firing episode (`source:fingerprint` firing at
 * `at`), or a report (matched by its title).
 */
export interface TruthEpisode {
  kind: 'alert' | 'report'
  /** `alertmanager:<fingerprint>`, `pingdom:check-<id>` (`pingdom:transaction-<id>` for a transaction check), or `report:<title>`. */
  key: string
  /** Its firing time (a report's occurredAt), epoch ms. */
  at: number
  /** The truth incident's label. */
  incident: string
}

export interface TruthIncident {
  label: string
  environment: string
  services: string[]
  /** Every member ended (and any flapping hold ran out) before the corpus ends: it must be resolved. */
  finished: boolean
  /** Still firing when the corpus ends: it must be open. Report-only incidents are neither. */
  open: boolean
  note: string
}

export interface PlantedProblem {
  label: string
  kind: 'recurring' | 'flapping' | 'shared-cause'
  /** Fields the engine's problem signature must have (docs/correlation-event-time.md, typed signatures). */
  signature: Record<string, unknown>
  incidents: string[]
  note: string
}

export interface Corpus {
  seed: number
  start: number
  end: number
  deliveries: Delivery[]
  episodes: TruthEpisode[]
  incidents: TruthIncident[]
  problems: PlantedProblem[]
  /** Planted scenarios that must NOT make a problem, for the report. */
  distractors: string[]
}

/** mulberry32: small, seedable, the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const iso = (t: number) => new Date(t).toISOString()
const ZERO_TIME = '0001-01-01T00:00:00Z'

/** Alertmanager's fingerprint is a hash of the label set; any stable hash of it serves. */
function fingerprintOf(labels: Record<string, string>): string {
  const h = createHash('sha256')
  for (const k of Object.keys(labels).sort()) h.update(k).update('\u0000').update(labels[k]!).update('\u0000')
  return h.digest('hex').slice(0, 16)
}

interface AmAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  fingerprint: string
  /** Firing episodes: [start, end or null while still firing], each with its truth incident. */
  episodes: { start: number; end: number | null; incident: string }[]
}

interface PingdomCheck {
  id: number
  name: string
  type: 'HTTP' | 'TRANSACTION'
  service: string
  environment: string
  hostname: string
  outages: { start: number; end: number | null; incident: string }[]
}

interface ReportSpec {
  kind: 'customer-complaint' | 'internal-complaint' | 'manual'
  service: string
  environment?: string
  title: string
  reportedBy: string
  at: number
  reference?: string
  incident: string
  /** Filed this long after it happened. */
  filedAfter: number
}

export interface CorpusOptions {
  seed?: number
  /** Midnight (UTC) of the corpus's first day. The corpus ends 10 days 22 h later. */
  start: number
  /** Noise incidents besides the planted scenarios. */
  noise?: number
  /**
   * Marks this copy of the corpus apart from others posted to the same pipeline: a `corpus_run` label on
   * every Alertmanager alert, Pingdom check ids offset, report titles and references suffixed.
   */
  tag?: string
}

/** The corpus's length: from `start` to its end. */
export const CORPUS_SPAN = 10 * DAY + 22 * HOUR

const GROUP_WAIT = 30_000
const GROUP_INTERVAL = 5 * MIN
const REPEAT_INTERVAL = 4 * HOUR

export function buildCorpus(opts: CorpusOptions): Corpus {
  const seed = opts.seed ?? 11
  const rnd = prng(seed)
  const tag = opts.tag
  const checkOffset = tag ? (parseInt(createHash('sha256').update(tag).digest('hex').slice(0, 6), 16) % 9000 + 1000) * 10_000_000 : 0
  const tagged = (text: string) => (tag ? `${text} [${tag}]` : text)
  const S = opts.start
  const end = S + CORPUS_SPAN
  const at = (day: number, h: number, m = 0, s = 0) => S + day * DAY + h * HOUR + m * MIN + s * 1000
  const incidents = new Map<string, TruthIncident>()
  const problems: PlantedProblem[] = []
  const distractors: string[] = []
  const amAlerts = new Map<string, AmAlert>()
  const checks = new Map<number, PingdomCheck>()
  const reports: ReportSpec[] = []
  /** Busy spans per service and environment, so noise never lands in (or next to) another incident. */
  const busy: { env: string; service: string; from: number; to: number }[] = []

  const incident = (label: string, environment: string, services: string[], note: string) => {
    incidents.set(label, { label, environment, services, finished: true, open: false, note })
  }
  const am = (labels: Record<string, string>, summary: string, episodes: [number, number | null][], incidentLabel: string | string[]) => {
    // kube-prometheus-stack alerts carry no env: their cluster names the environment.
    const full: Record<string, string> = { severity: 'warning', ...(labels.cluster ? {} : { env: 'production' }), ...labels, ...(tag ? { corpus_run: tag } : {}) }
    const fp = fingerprintOf(full)
    let a = amAlerts.get(fp)
    if (!a) {
      a = { labels: full, annotations: { summary, description: `${summary} (${full.instance ?? full.service})` }, fingerprint: fp, episodes: [] }
      amAlerts.set(fp, a)
    }
    episodes.forEach(([start, stop], i) => {
      const label = Array.isArray(incidentLabel) ? incidentLabel[i]! : incidentLabel
      a.episodes.push({ start, end: stop, incident: label })
      busy.push({ env: full.env ?? full.cluster!, service: full.service ?? full.container ?? full.deployment!, from: start, to: stop ?? end })
    })
    return fp
  }
  const pingdom = (plain: Omit<PingdomCheck, 'outages'>, outages: [number, number | null][], incidentLabel: string | string[]) => {
    const check = { ...plain, id: plain.id + checkOffset }
    let c = checks.get(check.id)
    if (!c) checks.set(check.id, (c = { ...check, outages: [] }))
    outages.forEach(([start, stop], i) => {
      c.outages.push({ start, end: stop, incident: Array.isArray(incidentLabel) ? incidentLabel[i]! : incidentLabel })
      busy.push({ env: check.environment, service: check.service, from: start, to: stop ?? end })
    })
  }

  // 1–2. Two checkout outages five hours apart on one day: the same alerts, the same Pingdom check, a
  // customer complaint in each. Two incidents, and no problem (two is not recurring).
  incident('checkout-outage-morning', 'production', ['checkout'], 'checkout 5xx, latency, synthetic check failing, a complaint; 09:00–09:38')
  incident('checkout-outage-afternoon', 'production', ['checkout'], 'the same alerts again five hours later: a second incident')
  const coErr = (instance: string) => ({ alertname: 'CheckoutErrors', service: 'checkout', severity: 'critical', instance, team: 'payments' })
  am(coErr('checkout-1:8080'), 'Checkout 5xx above 5%', [[at(7, 9, 0, 20), at(7, 9, 31)], [at(7, 14, 0, 40), at(7, 14, 26)]], ['checkout-outage-morning', 'checkout-outage-afternoon'])
  am(coErr('checkout-2:8080'), 'Checkout 5xx above 5%', [[at(7, 9, 1, 10), at(7, 9, 33)]], 'checkout-outage-morning')
  am({ alertname: 'CheckoutLatencyHigh', service: 'checkout', instance: 'checkout-1:8080', team: 'payments' }, 'Checkout p99 above 2 s', [[at(7, 9, 3), at(7, 9, 38)]], 'checkout-outage-morning')
  const guestFlow = { id: 61207, name: 'Checkout: guest purchase flow', type: 'TRANSACTION' as const, service: 'checkout', environment: 'production', hostname: 'shop.northwind-retail.net' }
  pingdom(guestFlow, [[at(7, 9, 2), at(7, 9, 35)], [at(7, 14, 1), at(7, 14, 24)]], ['checkout-outage-morning', 'checkout-outage-afternoon'])
  reports.push({ kind: 'customer-complaint', service: 'checkout', title: 'Customers cannot pay at checkout', reportedBy: 'support@northwind-retail.net', at: at(7, 9, 12), reference: 'ZD-48113', incident: 'checkout-outage-morning', filedAfter: 6 * MIN })
  reports.push({ kind: 'customer-complaint', service: 'checkout', title: 'Order confirmation page errors', reportedBy: 'support@northwind-retail.net', at: at(7, 14, 9), reference: 'ZD-48190', incident: 'checkout-outage-afternoon', filedAfter: 4 * MIN })
  distractors.push('checkout outages at 09:00 and 14:00 on day 7: two incidents, not one, and no recurring problem')
  // The same hour in staging: another environment, another incident.
  incident('checkout-staging', 'staging', ['checkout'], 'staging checkout errors during the morning outage: not part of it')
  am({ alertname: 'CheckoutErrors', service: 'checkout', env: 'staging', instance: 'checkout-stg-1:8080', team: 'payments' }, 'Checkout 5xx above 5%', [[at(7, 9, 5), at(7, 9, 20)]], 'checkout-staging')

  // 3. A disk alert firing and resolving on three separate days: three incidents, one recurring problem.
  const disk = ['disk-day4', 'disk-day5', 'disk-day6']
  for (const [i, label] of disk.entries()) incident(label, 'production', ['orders-db'], `orders-db filesystem almost full, night of day ${4 + i}`)
  am({ alertname: 'NodeFilesystemAlmostOutOfSpace', service: 'orders-db', instance: 'db-orders-1:9100', mountpoint: '/var/lib/postgresql', team: 'data-platform' },
    'Filesystem has less than 10% space left', [[at(4, 3, 10), at(4, 3, 52)], [at(5, 3, 14), at(5, 3, 47)], [at(6, 3, 9), at(6, 3, 55)]], disk)
  problems.push({ label: 'recurring-disk', kind: 'recurring', signature: { environment: 'production', service: 'orders-db', alertNames: ['NodeFilesystemAlmostOutOfSpace'] }, incidents: disk, note: 'the disk alert of days 4, 5 and 6' })

  // 4. A Pingdom check down for minutes on three nights: recurring, from Pingdom.
  const searchDown = ['search-down-day1', 'search-down-day2', 'search-down-day3']
  for (const [i, label] of searchDown.entries()) incident(label, 'production', ['search'], `search health check down, night of day ${1 + i}`)
  pingdom({ id: 8412337, name: 'Search API health', type: 'HTTP', service: 'search', environment: 'production', hostname: 'search.northwind-retail.net' },
    [[at(1, 2, 4), at(1, 2, 12)], [at(2, 2, 6), at(2, 2, 11)], [at(3, 2, 3), at(3, 2, 15)]], searchDown)
  problems.push({ label: 'recurring-search-check', kind: 'recurring', signature: { environment: 'production', service: 'search', alertNames: ['Search API health'] }, incidents: searchDown, note: 'the Pingdom search check of days 1, 2 and 3' })

  // 5. An Alertmanager alert flapping: six firings 13 min apart (each state lasts past a group interval).
  incident('notifications-lag-flapping', 'production', ['notifications'], 'consumer lag toggling six times in 70 minutes: one incident')
  const lagging = am({ alertname: 'KafkaConsumerLagHigh', service: 'notifications', instance: 'notif-worker-1:9308', consumergroup: 'email-sender' },
    'Consumer group lag above 10k', Array.from({ length: 6 }, (_, k): [number, number] => [at(5, 16, 13 * k, 5), at(5, 16, 13 * k + 6, 5)]), 'notifications-lag-flapping')
  problems.push({ label: 'flapping-consumer-lag', kind: 'flapping', signature: { environment: 'production', source: 'alertmanager', fingerprint: lagging }, incidents: ['notifications-lag-flapping'], note: 'KafkaConsumerLagHigh on notifications' })

  // 6. A Pingdom check flapping: down five times in 45 minutes.
  incident('shipping-rates-flapping', 'production', ['shipping'], 'shipping rates check toggling five times: one incident')
  pingdom({ id: 7730015, name: 'Shipping rates API', type: 'HTTP', service: 'shipping', environment: 'production', hostname: 'rates.northwind-retail.net' },
    Array.from({ length: 5 }, (_, k): [number, number] => [at(8, 20, 10 * k + 1), at(8, 20, 10 * k + 5)]), 'shipping-rates-flapping')
  problems.push({ label: 'flapping-shipping-check', kind: 'flapping', signature: { environment: 'production', source: 'pingdom', fingerprint: `check-${7730015 + checkOffset}` }, incidents: ['shipping-rates-flapping'], note: 'Pingdom check 7730015' })

  // 7. Two services on one database opening together: a shared cause (label `database`).
  incident('orders-db-connections', 'production', ['orders-api'], 'orders-api cannot reach pg-orders-main')
  incident('payments-db-timeouts', 'production', ['payments-api'], 'payments-api times out on pg-orders-main, 90 s later')
  am({ alertname: 'DatabaseConnectionErrors', service: 'orders-api', severity: 'critical', instance: 'orders-api-1:8080', database: 'pg-orders-main' }, 'orders-api DB connection errors', [[at(6, 11, 0, 30), at(6, 11, 25)]], 'orders-db-connections')
  am({ alertname: 'PaymentsDbTimeouts', service: 'payments-api', severity: 'critical', instance: 'payments-api-2:8080', database: 'pg-orders-main' }, 'payments-api DB timeouts', [[at(6, 11, 2), at(6, 11, 22)]], 'payments-db-timeouts')
  problems.push({ label: 'shared-pg-orders-main', kind: 'shared-cause', signature: { environment: 'production', label: 'database', value: 'pg-orders-main' }, incidents: ['orders-db-connections', 'payments-db-timeouts'], note: 'orders-api and payments-api on pg-orders-main' })

  // 8. Two services on one cache host (the host part of `instance`): a shared cause too.
  incident('inventory-cache', 'production', ['inventory'], 'inventory: Redis latency on cache-3')
  incident('catalog-cache', 'production', ['catalog'], 'catalog: cache misses on cache-3, a minute later')
  am({ alertname: 'RedisLatencyHigh', service: 'inventory', instance: 'cache-3:6379' }, 'Redis p99 above 50 ms', [[at(9, 4, 30), at(9, 4, 58)]], 'inventory-cache')
  am({ alertname: 'CacheMissRateHigh', service: 'catalog', instance: 'cache-3:6379' }, 'Cache miss rate above 40%', [[at(9, 4, 31, 30), at(9, 4, 50)]], 'catalog-cache')
  problems.push({ label: 'shared-cache-3', kind: 'shared-cause', signature: { environment: 'production', label: 'host', value: 'cache-3' }, incidents: ['inventory-cache', 'catalog-cache'], note: 'inventory and catalog on cache-3' })

  // 9. An alert firing for eleven hours: repeat notifications every 4 h, one incident, finished.
  incident('recommendations-stale', 'production', ['recommendations'], 'model staleness firing 11 h with repeat notifications')
  am({ alertname: 'ModelStaleness', service: 'recommendations', instance: 'reco-trainer-1:9000' }, 'Recommendation model older than 24 h', [[at(2, 6, 0), at(2, 17, 2)]], 'recommendations-stale')

  // 10. Two alert groups of one service a minute apart: one incident.
  incident('search-slow', 'production', ['search'], 'search latency and error rate, two Alertmanager groups: one incident')
  am({ alertname: 'SearchLatencyHigh', service: 'search', instance: 'search-1:9200' }, 'Search p99 above 1.5 s', [[at(3, 15, 0), at(3, 15, 40)]], 'search-slow')
  am({ alertname: 'SearchErrorRate', service: 'search', instance: 'search-2:9200' }, 'Search 5xx above 1%', [[at(3, 15, 2), at(3, 15, 31)]], 'search-slow')

  // 11. Distractor: one service's unrelated incidents nine days apart.
  incident('auth-day0', 'production', ['auth'], 'auth token errors, day 0')
  incident('auth-day9', 'production', ['auth'], 'auth token errors again, day 9: unrelated')
  am({ alertname: 'TokenServiceErrors', service: 'auth', instance: 'auth-1:8080' }, 'Token service 5xx above 2%', [[at(0, 10, 0), at(0, 10, 20)]], 'auth-day0')
  am({ alertname: 'TokenServiceErrors', service: 'auth', instance: 'auth-3:8080' }, 'Token service 5xx above 2%', [[at(9, 15, 0), at(9, 15, 12)]], 'auth-day9')
  distractors.push('auth TokenServiceErrors on days 0 and 9: two incidents, no problem')

  // 12. Distractor: three incidents of one signature, never three within 7 days.
  const printer = ['printer-day0', 'printer-day5', 'printer-day10']
  for (const label of printer) incident(label, 'production', ['shipping'], 'label printer errors')
  am({ alertname: 'LabelPrinterErrors', service: 'shipping', instance: 'shipping-1:8080' }, 'Label printing failing', [[at(0, 13, 0), at(0, 13, 25)]], 'printer-day0')
  am({ alertname: 'LabelPrinterErrors', service: 'shipping', instance: 'shipping-2:8080' }, 'Label printing failing', [[at(5, 2, 0), at(5, 2, 18)]], 'printer-day5')
  am({ alertname: 'LabelPrinterErrors', service: 'shipping', instance: 'shipping-3:8080' }, 'Label printing failing', [[at(10, 8, 0), at(10, 8, 22)]], 'printer-day10')
  distractors.push('shipping LabelPrinterErrors on days 0, 5 and 10: never three within 7 days, no recurring problem')

  // 12b. An alert that fired and resolved between two flushes of its group: Alertmanager only ever sends
  // it as resolved (startsAt and endsAt set). It happened, and belongs with its group's other alert.
  incident('pricing-feed', 'production', ['pricing'], 'price feed stale on two instances; the second one only ever reported resolved')
  am({ alertname: 'PriceFeedStale', service: 'pricing', instance: 'pricing-1:8080' }, 'Price feed older than 10 min', [[at(8, 12, 0), at(8, 12, 20)]], 'pricing-feed')
  am({ alertname: 'PriceFeedStale', service: 'pricing', instance: 'pricing-2:8080' }, 'Price feed older than 10 min', [[at(8, 12, 1), at(8, 12, 3, 30)]], 'pricing-feed')

  // 12c. kube-prometheus-stack alerts (no service or env label): the grouping rules' defaults name the
  // service from the workload (container, deployment) and the environment from `cluster`.
  incident('kube-cart-crashloop', 'prod-eu-1', ['cart'], 'cart container crash-looping on two pods (kube-state-metrics)')
  incident('kube-reco-replicas', 'prod-eu-1', ['recommendations-api'], 'recommendations-api deployment short of replicas, hours later')
  const kube = { job: 'kube-state-metrics', namespace: 'shop', cluster: 'prod-eu-1', prometheus: 'monitoring/kube-prometheus-stack-prometheus' }
  am({ ...kube, alertname: 'KubePodCrashLooping', container: 'cart', pod: 'cart-7d9f8c6b5-x2l4q', instance: '10.42.3.17:8080' }, 'Pod shop/cart-7d9f8c6b5-x2l4q (cart) is in waiting state (reason: "CrashLoopBackOff")', [[at(3, 17, 0), at(3, 17, 25)]], 'kube-cart-crashloop')
  am({ ...kube, alertname: 'KubePodCrashLooping', container: 'cart', pod: 'cart-7d9f8c6b5-q8n2w', instance: '10.42.5.9:8080' }, 'Pod shop/cart-7d9f8c6b5-q8n2w (cart) is in waiting state (reason: "CrashLoopBackOff")', [[at(3, 17, 2), at(3, 17, 22)]], 'kube-cart-crashloop')
  am({ ...kube, alertname: 'KubeDeploymentReplicasMismatch', deployment: 'recommendations-api', instance: '10.42.1.4:8080' }, 'Deployment shop/recommendations-api has not matched the expected number of replicas for longer than 15 minutes', [[at(3, 20, 10), at(3, 20, 40)]], 'kube-reco-replicas')

  // 13. A report with no alert: an incident of its own (neither finished nor open by alerts).
  incidents.set('catalog-images-report', { label: 'catalog-images-report', environment: 'production', services: ['catalog'], finished: false, open: false, note: 'an internal complaint with no alert' })
  reports.push({ kind: 'internal-complaint', service: 'catalog', title: 'Product images load slowly in the back office', reportedBy: 'merchandising@northwind-retail.net', at: at(4, 10, 0), incident: 'catalog-images-report', filedAfter: 20 * MIN })
  // An alert of its service within the report window (30 min) of it would join it; the noise keeps a day away.
  busy.push({ env: 'production', service: 'catalog', from: at(4, 10, 0), to: at(5, 10, 0) })

  // 14. Still firing when the corpus ends: open incidents.
  incident('billing-backlog', 'production', ['billing'], 'invoice queue backlog, still firing at the end')
  am({ alertname: 'InvoiceQueueBacklog', service: 'billing', instance: 'billing-worker-2:9100' }, 'Invoice queue above 5k', [[end - 3 * HOUR, null]], 'billing-backlog')
  incident('web-down', 'production', ['web-frontend'], 'storefront check down, still down at the end')
  pingdom({ id: 5021990, name: 'Storefront home page', type: 'HTTP', service: 'web-frontend', environment: 'production', hostname: 'www.northwind-retail.net' }, [[end - 50 * MIN, null]], 'web-down')
  for (const label of ['billing-backlog', 'web-down']) { const i = incidents.get(label)!; i.finished = false; i.open = true }

  // Noise: ordinary incidents of one to three alerts, each (service, alert name) once, none near another
  // incident of its service, every host its own service's.
  const noiseServices = ['auth', 'billing', 'web-frontend', 'recommendations', 'notifications', 'inventory', 'catalog', 'orders-api', 'payments-api', 'shipping', 'search', 'reviews', 'pricing']
  const noiseNames = ['HighMemoryUsage', 'PodCrashLooping', 'QueueBacklog', 'SlowRequests', 'ErrorBudgetBurn', 'CertificateExpiringSoon', 'ThreadPoolExhausted', 'GcPausesLong', 'UpstreamTimeouts', 'CpuThrottling']
  const used = new Set<string>()
  const wanted = opts.noise ?? 44
  let made = 0
  for (let attempt = 0; made < wanted && attempt < wanted * 50; attempt++) {
    const service = noiseServices[Math.floor(rnd() * noiseServices.length)]!
    const name = noiseNames[Math.floor(rnd() * noiseNames.length)]!
    if (used.has(`${service}/${name}`)) continue
    const start = S + Math.floor(rnd() * (CORPUS_SPAN - 6 * HOUR) / 1000) * 1000 + 30 * MIN
    const duration = (3 + Math.floor(rnd() * 50)) * MIN
    // Two hours clear of its service's other incidents: no join, no reopen, no flap.
    if (busy.some((b) => b.env === 'production' && b.service === service && start < b.to + 2 * HOUR && start + duration > b.from - 2 * HOUR)) continue
    used.add(`${service}/${name}`)
    const label = `noise-${String(++made).padStart(2, '0')}-${service}`
    const instances = 1 + (rnd() < 0.25 ? Math.floor(rnd() * 3) : 0)
    incident(label, 'production', [service], `${name} on ${service}${instances > 1 ? `, ${instances} instances` : ''}`)
    for (let k = 0; k < instances; k++) {
      const s = start + k * Math.floor(rnd() * 4 * MIN)
      am({ alertname: name, service, instance: `${service}-${k + 1}.pod:8080`, severity: rnd() < 0.2 ? 'critical' : 'warning' }, `${name} on ${service}`, [[s, s + duration - k * MIN]], label)
    }
  }

  // Finished means over, with any flapping hold (1 h after the last flap) run out before the end.
  for (const r of reports) { r.title = tagged(r.title); if (r.reference) r.reference = tagged(r.reference) }
  const deliveries = [...alertmanagerDeliveries([...amAlerts.values()], end), ...pingdomDeliveries([...checks.values()], end), ...reportDeliveries(reports, end)]
  const episodes: TruthEpisode[] = [
    ...[...amAlerts.values()].flatMap((a) => a.episodes.map((e) => ({ kind: 'alert' as const, key: `alertmanager:${a.fingerprint}`, at: e.start, incident: e.incident }))),
    ...[...checks.values()].flatMap((c) => c.outages.map((o) => ({ kind: 'alert' as const, key: `pingdom:${c.type === 'TRANSACTION' ? 'transaction' : 'check'}-${c.id}`, at: o.start, incident: o.incident }))),
    ...reports.map((r) => ({ kind: 'report' as const, key: `report:${r.title}`, at: r.at, incident: r.incident })),
  ].sort((a, b) => a.at - b.at || a.key.localeCompare(b.key))
  return { seed, start: S, end, deliveries, episodes, incidents: [...incidents.values()], problems, distractors }
}

/** What Alertmanager sends for these alerts (route group_by [alertname, service]), as a list of webhooks. */
function alertmanagerDeliveries(alerts: AmAlert[], end: number): Delivery[] {
  const groups = new Map<string, AmAlert[]>()
  for (const a of alerts) {
    // Alertmanager leaves a group_by label the alert does not have out of the key.
    const key = `{}:{${['alertname', 'service'].filter((l) => a.labels[l]).map((l) => `${l}="${a.labels[l]}"`).join(', ')}}`
    groups.set(key, [...(groups.get(key) ?? []), a])
  }
  const out: Delivery[] = []
  for (const [groupKey, members] of groups) {
    // The group's state changes in time order; Alertmanager looks at the group at each flush.
    const changes = members.flatMap((a) => a.episodes.flatMap((e) => [{ t: e.start, a, e }, ...(e.end === null ? [] : [{ t: e.end, a, e }])])).sort((x, y) => x.t - y.t)
    // What Alertmanager holds per alert: its current episode and what it last notified of it.
    const held = new Map<string, { a: AmAlert; start: number; end: number | null; notified: string | null }>()
    let next = 0
    let flushAt: number | null = null
    let lastSent = -Infinity
    const apply = (until: number) => {
      while (next < changes.length && changes[next]!.t <= until) {
        const c = changes[next++]!
        held.set(c.a.fingerprint, { a: c.a, start: c.e.start, end: c.e.end !== null && c.e.end <= c.t ? c.e.end : null, notified: held.get(c.a.fingerprint)?.notified ?? null })
        if (flushAt === null) flushAt = c.t + GROUP_WAIT
      }
    }
    while (next < changes.length || flushAt !== null) {
      if (flushAt === null) { apply(changes[next]!.t); continue }
      apply(flushAt)
      const f: number = flushAt
      if (f > end) break
      const state = (h: { start: number; end: number | null }) => `${h.start}|${h.end ?? ''}`
      const changed = [...held.values()].some((h) => h.notified !== state(h))
      const firing = [...held.values()].some((h) => h.end === null)
      if (changed || (firing && f - lastSent >= REPEAT_INTERVAL)) {
        const sorted = [...held.values()].sort((x, y) => x.a.fingerprint.localeCompare(y.a.fingerprint))
        out.push({ sender: 'alertmanager', path: '/webhooks/alertmanager', sentAt: f, body: notification(groupKey, sorted) })
        lastSent = f
        for (const h of sorted) h.notified = state(h)
        // Resolved alerts are sent once, then the group forgets them.
        for (const h of sorted) if (h.end !== null) held.delete(h.a.fingerprint)
      }
      flushAt = held.size > 0 ? f + GROUP_INTERVAL : null
    }
  }
  return out.sort((x, y) => x.sentAt - y.sentAt)
}

function notification(groupKey: string, held: { a: AmAlert; start: number; end: number | null }[]): Record<string, unknown> {
  const alerts = held.map((h) => ({
    status: h.end === null ? 'firing' : 'resolved',
    labels: h.a.labels,
    annotations: h.a.annotations,
    startsAt: iso(h.start),
    endsAt: h.end === null ? ZERO_TIME : iso(h.end),
    generatorURL: `http://prometheus.northwind-retail.net:9090/graph?g0.expr=${encodeURIComponent(`ALERTS{alertname="${h.a.labels.alertname}"}`)}&g0.tab=1`,
    fingerprint: h.a.fingerprint,
  }))
  const common = <T extends Record<string, string>>(maps: T[]) => Object.fromEntries(Object.entries(maps[0]!).filter(([k, v]) => maps.every((m) => m[k] === v)))
  const first = held[0]!.a.labels
  return {
    receiver: 'opsreview',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts,
    groupLabels: Object.fromEntries(['alertname', 'service'].filter((l) => first[l]).map((l) => [l, first[l]])),
    commonLabels: common(held.map((h) => h.a.labels)),
    commonAnnotations: common(held.map((h) => h.a.annotations)),
    externalURL: 'http://alertmanager.northwind-retail.net:9093',
    version: '4',
    groupKey,
    truncatedAlerts: 0,
  }
}

function pingdomDeliveries(checks: PingdomCheck[], end: number): Delivery[] {
  const out: Delivery[] = []
  for (const c of checks) {
    const [up, down] = c.type === 'TRANSACTION' ? ['SUCCESS', 'FAILING'] : ['UP', 'DOWN']
    for (const o of c.outages) {
      const changes: [number, string, string][] = [[o.start, up, down]]
      if (o.end !== null) changes.push([o.end, down, up])
      for (const [t, previous, current] of changes) {
        // Pingdom confirms from a second probe before it sends: about a minute after the change.
        const sentAt = t + 50_000
        if (sentAt > end) continue
        const seconds = Math.floor(t / 1000)
        out.push({
          sender: 'pingdom', path: '/webhooks/pingdom', sentAt,
          body: {
            check_id: c.id, check_name: c.name, check_type: c.type,
            ...(c.type === 'HTTP' ? { check_params: { basic_auth: false, encryption: true, full_url: `https://${c.hostname}/health`, hostname: c.hostname, ipv6: false, port: 443, url: '/health' } } : {}),
            tags: [`service_${c.service}`, `env_${c.environment}`, 'team_web'],
            previous_state: previous, current_state: current, importance_level: 'HIGH',
            state_changed_timestamp: seconds, state_changed_utc_time: new Date(seconds * 1000).toISOString().slice(0, 19),
            long_description: current === down ? 'HTTP Server Error 503 Service Unavailable' : 'OK', description: current === down ? 'HTTP Error 503' : 'OK',
            first_probe: { ip: '198.51.100.23', ipv6: '', location: 'Frankfurt, Germany' }, second_probe: { ip: '203.0.113.41', ipv6: '', location: 'Amsterdam 6, Netherlands' },
            version: 1,
          },
        })
      }
    }
  }
  return out.sort((x, y) => x.sentAt - y.sentAt)
}

function reportDeliveries(reports: ReportSpec[], end: number): Delivery[] {
  return reports
    .filter((r) => r.at + r.filedAfter <= end)
    .map((r) => ({
      sender: 'report' as const, path: '/api/v1/reports' as const, sentAt: r.at + r.filedAfter,
      body: {
        kind: r.kind, service: r.service, ...(r.environment ? { environment: r.environment } : {}), title: r.title, reportedBy: r.reportedBy,
        occurredAt: iso(r.at), severity: 'warning', ...(r.reference ? { reference: r.reference } : {}),
      },
    }))
    .sort((x, y) => x.sentAt - y.sentAt)
}

/**
 * A drained spool's arrival order: each sender's requests in its own order (as it sent them), the
 * senders interleaved at random (seeded). All of them arrive at once, however many days they span.
 */
export function burstOrder(deliveries: readonly Delivery[], seed = 7): Delivery[] {
  const rnd = prng(seed)
  const queues = (['alertmanager', 'pingdom', 'report'] as const).map((s) => deliveries.filter((d) => d.sender === s).sort((a, b) => a.sentAt - b.sentAt))
  const out: Delivery[] = []
  for (;;) {
    const left = queues.filter((q) => q.length > 0)
    if (left.length === 0) return out
    // Weighted by what is left, so the interleaving spreads over the whole burst.
    const total = left.reduce((n, q) => n + q.length, 0)
    let pick = rnd() * total
    const q = left.find((x) => (pick -= x.length) < 0) ?? left[0]!
    out.push(q.shift()!)
  }
}

/** Live order: every request when its sender sent it. */
export function liveOrder(deliveries: readonly Delivery[]): Delivery[] {
  return [...deliveries].sort((a, b) => a.sentAt - b.sentAt)
}
