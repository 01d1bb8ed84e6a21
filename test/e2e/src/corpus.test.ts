/**
 * Issue 11's acceptance on the whole pipeline: the labelled corpus (test/e2e/src/corpus, docs/corpus.md)
 * posted through the receiver in one burst, as after a receiver or Kafka outage, a drained spool or an
 * import: eleven days at once, each sender's requests in its own order, the senders interleaved. The
 * correlator runs as deployed (wall-clock ticks, allowed lateness 0), so every event arrives behind its
 * watermark. Incidents and problems are read back from Elasticsearch and scored against the truth.
 */
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { kafkaClient, uniqueName } from '@opsreview/testing'
import { freePort, pipelineOfTest, startService } from './processes.ts'
import { buildCorpus, burstOrder, CORPUS_SPAN, HOUR } from './corpus/corpus.ts'
import { postBurst, settled } from './corpus/pipeline.ts'
import { F1_TARGET, score } from './corpus/score.ts'

const TOKEN = 'corpus-ingest-token'

describe('the labelled corpus through the pipeline', () => {
  it('posted in one burst, scores pairwise F1 ≥ 0.95, finds every planted problem and no false one, and resolves every finished incident', { timeout: 240_000 }, async () => {
    const run = uniqueName('corpus')
    const kafka = kafkaClient()
    const { es, topics, common } = pipelineOfTest(run)
    const receiverPort = await freePort()
    await Promise.all([
      startService('receiver', { ...common, OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: TOKEN, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'corpus-spool-')) }, 'connected to kafka'),
      // As deployed: ticks on wall time (every second here), allowed lateness 0 (the default).
      startService('correlator', { ...common, OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${run}-correlator`, OPSREVIEW_TICK_INTERVAL: '1s', OPSREVIEW_SNAPSHOT_INTERVAL: '1s', OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s' }, 'correlator running'),
      startService('indexer', { ...common, OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_INDEXER_GROUP: `${run}-indexer` }, 'indexer consuming'),
    ])

    // Eleven days ending an hour ago: everything is in the past, and the receiver's time bounds take it.
    const start = Math.floor((Date.now() - CORPUS_SPAN - HOUR) / HOUR) * HOUR
    const corpus = buildCorpus({ start })
    const burst = await postBurst(`http://127.0.0.1:${receiverPort}`, TOKEN, burstOrder(corpus.deliveries))
    const { incidents, problems } = await settled(kafka, es, {
      alertsAlias: `${run}-alerts`, incidentsAlias: `${run}-incidents`, problemsAlias: `${run}-problems`,
      inputTopic: topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT, incidentsTopic: topics.OPSREVIEW_TOPIC_INCIDENTS, problemsTopic: topics.OPSREVIEW_TOPIC_PROBLEMS,
      engineGroup: `${run}-correlator-engine`,
    }, burst.events)

    const s = score(corpus, incidents, problems)
    console.log(`${burst.requests} requests, ${burst.events} events posted in ${burst.ms} ms\n${s.report}`)
    expect(s.pairs.f1).toBeGreaterThanOrEqual(F1_TARGET)
    expect(s.problems.missed).toEqual([])
    expect(s.problems.false).toEqual([])
    expect(s.lifecycle.notResolved).toEqual([])
    expect(s.lifecycle.notOpen).toEqual([])
  })
})
