import { describe, expect, it, onTestFinished } from 'vitest'
import { readConfig } from '@opsreview/config'
import { captureLogs, esClient, kafkaClient, serve, uniqueName } from '@opsreview/testing'
import { indexerConfigSpec } from './config.ts'
import { createIndexer } from './indexer.ts'

describe("the indexer's /metrics", () => {
  it("serves prom-client's process metrics beside its own, for each indexer in the process", async () => {
    const parsed = readConfig(indexerConfigSpec, { OPSREVIEW_INDEXER_GROUP: uniqueName('idx-metrics'), OPSREVIEW_ES_INDEX_PREFIX: uniqueName('idx-metrics') })
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
    const es = esClient()
    onTestFinished(() => es.close())
    // Never started: the registry is made with the indexer, nothing here touches Kafka or Elasticsearch.
    for (const indexer of [0, 1].map(() => createIndexer({ config: parsed.value, logger: captureLogs().logger, kafka: kafkaClient(), es }))) {
      const text = await (await fetch(`${await serve(indexer.app)}/metrics`)).text()
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
      expect(text).toMatch(/^nodejs_heap_size_total_bytes \d/m)
      expect(text).toContain('# TYPE opsreview_indexer_documents_indexed_total counter')
    }
  })
})
