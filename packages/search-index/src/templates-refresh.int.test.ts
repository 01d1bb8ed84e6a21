// Incidents and problems become searchable sooner than alerts: their own refresh interval, in the
// templates and on indices that existed before it.
import { describe, expect, it, onTestFinished } from 'vitest'
import { esClient, indicesOfTest } from '@opsreview/testing'
import { DOCUMENT_REFRESH_INTERVAL, ensureIndices, indexNames } from './templates.ts'

async function refreshIntervals(prefix: string) {
  const es = esClient()
  onTestFinished(() => es.close())
  const n = indexNames(prefix)
  const of = async (alias: string) => Object.values(await es.indices.getSettings({ index: alias, name: 'index.refresh_interval' }))[0]?.settings?.index?.refresh_interval
  const template = async (name: string) => (await es.indices.getIndexTemplate({ name })).index_templates[0]!.index_template.template!.settings!.index!.refresh_interval
  return { incidents: await of(n.incidents.alias), problems: await of(n.problems.alias), alertsTemplate: await template(n.alerts.template), incidentsTemplate: await template(n.incidents.template) }
}

describe('refresh intervals of the live indices', () => {
  it('gives incidents and problems their own, shorter refresh interval, also on indices made before it', async () => {
    const { prefix, es } = indicesOfTest('refresh')
    await ensureIndices(es, prefix, '1s', '1s')
    expect(await refreshIntervals(prefix)).toEqual({ incidents: '1s', problems: '1s', alertsTemplate: '1s', incidentsTemplate: '1s' })
    await ensureIndices(es, prefix, '1s')
    expect(DOCUMENT_REFRESH_INTERVAL).toBe('250ms')
    expect(await refreshIntervals(prefix)).toEqual({ incidents: '250ms', problems: '250ms', alertsTemplate: '1s', incidentsTemplate: '250ms' })
  })

  it('keeps the alert template\'s configured refresh interval when the review or a reindex makes sure of the indices', async () => {
    const { prefix, es } = indicesOfTest('refresh')
    // As the review starts on a fresh cluster: 1 s.
    await ensureIndices(es, prefix)
    expect((await refreshIntervals(prefix)).alertsTemplate).toBe('1s')
    // The indexer, with OPSREVIEW_ES_REFRESH_INTERVAL=30s; then the review again, and a reindex.
    await ensureIndices(es, prefix, '30s')
    await ensureIndices(es, prefix)
    expect((await refreshIntervals(prefix)).alertsTemplate).toBe('30s')
  })
})
