/**
 * `corpus:score`: posts the labelled corpus to a running pipeline in one burst, waits until the
 * correlator and the indexer have it, and prints its score (docs/corpus.md). Each run tags its copy
 * (`corpus_run` label, Pingdom check ids, report titles), so runs on one pipeline do not mix; the scorer
 * only reads incidents holding the run's alerts and problems linking them.
 *
 *   node --conditions=@opsreview/source test/e2e/src/corpus/main.ts [--seed 11] [--receiver http://127.0.0.1:8080]
 *
 * Settings come from the services' variables: OPSREVIEW_INGEST_TOKEN (or the first of
 * OPSREVIEW_INGEST_TOKENS), OPSREVIEW_KAFKA_BROKERS, OPSREVIEW_ES_URL, OPSREVIEW_ES_INDEX_PREFIX,
 * OPSREVIEW_TOPIC_CORRELATOR_INPUT, OPSREVIEW_TOPIC_INCIDENTS, OPSREVIEW_TOPIC_PROBLEMS,
 * OPSREVIEW_CORRELATOR_GROUP, with the services' defaults. Exit code 0 when the acceptance holds, 1 when not.
 */
import { parseArgs } from 'node:util'
import { esClient, kafkaClient } from '@opsreview/testing'
import { buildCorpus, burstOrder, CORPUS_SPAN, HOUR } from './corpus.ts'
import { postBurst, settled } from './pipeline.ts'
import { incidentsByProblem, score } from './score.ts'

const { values } = parseArgs({ options: { seed: { type: 'string', default: '11' }, receiver: { type: 'string', default: 'http://127.0.0.1:8080' }, timeout: { type: 'string', default: '300' } } })
const env = process.env
const token = env.OPSREVIEW_INGEST_TOKEN ?? env.OPSREVIEW_INGEST_TOKENS?.split(',')[0]
if (!token) {
  console.error('set OPSREVIEW_INGEST_TOKEN to an ingest token of the receiver')
  process.exit(2)
}
const prefix = env.OPSREVIEW_ES_INDEX_PREFIX ?? 'opsreview'
const tag = `corpus-${Date.now().toString(36)}`
const corpus = buildCorpus({ start: Math.floor((Date.now() - CORPUS_SPAN - HOUR) / HOUR) * HOUR, seed: Number(values.seed), tag })
const kafka = kafkaClient('corpus-score')
const es = esClient()
try {
  const burst = await postBurst(values.receiver!, token, burstOrder(corpus.deliveries))
  console.log(`${tag}: ${burst.requests} requests, ${burst.events} events posted in ${burst.ms} ms; waiting for the pipeline`)
  const { incidents, problems } = await settled(kafka, es, {
    alertsAlias: `${prefix}-alerts`, incidentsAlias: `${prefix}-incidents`, problemsAlias: `${prefix}-problems`,
    inputTopic: env.OPSREVIEW_TOPIC_CORRELATOR_INPUT ?? 'opsreview.correlator.input.v1',
    incidentsTopic: env.OPSREVIEW_TOPIC_INCIDENTS ?? 'opsreview.incidents.v1',
    problemsTopic: env.OPSREVIEW_TOPIC_PROBLEMS ?? 'opsreview.problems.v1',
    engineGroup: `${env.OPSREVIEW_CORRELATOR_GROUP ?? 'opsreview-correlator'}-engine`,
  }, burst.events, Number(values.timeout) * 1000)
  // The pipeline holds other traffic: only this run's incidents, and the problems linking them, count.
  const keys = new Set(corpus.episodes.map((e) => e.key))
  const ours = incidents.filter((i) => i.alerts.some((a) => keys.has(a.key)) || i.reports.some((r) => keys.has(`report:${r.title}`)))
  const ids = new Set(ours.map((i) => i.id))
  const linked = incidentsByProblem(ours, problems)
  const s = score(corpus, ours, problems.filter((p) => [...linked.get(p.id)!].some((id) => ids.has(id))))
  console.log(s.report)
  process.exitCode = s.pass ? 0 : 1
} finally {
  await es.close()
}
