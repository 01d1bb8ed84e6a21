import { afterAll, describe, expect, it } from 'vitest'
import type { Client } from '@elastic/elasticsearch'
import type { Incident, Problem } from '@opsreview/correlation/types'
import { incidentMappings, indexNames } from '@opsreview/search-index/templates'
import { cleanupIndices, esClient, uniqueName } from '@opsreview/testing'
// The review's own check of `?dataset=`, read-only: what the API answers 200 or 404 on.
import { resolveDataset } from '../../review/src/dataset.ts'
import { dropDataset, writeDataset } from './dataset.ts'

const es = esClient()
afterAll(() => es.close())

const aliasesOf = (prefix: string) => { const n = indexNames(prefix); return { alerts: n.alerts.alias, incidents: n.incidents.alias, problems: n.problems.alias } }
const whatIfIndices = async (prefix: string, dataset: string) =>
  Object.keys(await es.indices.get({ index: `${prefix}-whatif-${dataset}-*`, allow_no_indices: true, expand_wildcards: 'all' })).sort()

/** Enough incidents for two bulk requests (a request takes 1,000 documents). */
const incidents = Array.from({ length: 1_001 }, (_, n) => ({
  id: `inc-${n.toString(16).padStart(24, '0')}`, version: 1, openedAt: '2026-12-01T10:00:00.000Z', acknowledgedAt: null, resolvedAt: null,
})) as unknown as Incident[]
const problems: Problem[] = []

/** The client, with its `nth` bulk request answered by Elasticsearch refusing every item with a 429. */
function failingBulk(client: Client, nth: number): Client {
  let calls = 0
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'bulk') {
        return async (params: { operations: unknown[] }) => {
          if (++calls !== nth) return target.bulk(params)
          const error = { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' }
          return { errors: true, took: 1, items: params.operations.filter((_, i) => i % 2 === 0).map(() => ({ index: { _index: 'x', status: 429, error } })) }
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}

describe('what-if dataset writes', () => {
  it('a write that fails mid-load leaves no index behind, and the review finds no dataset', async () => {
    const prefix = uniqueName('replay-ds')
    cleanupIndices(prefix)
    // A 429 is Elasticsearch too busy: retriable, which the CLI exits 69 for.
    const failed = writeDataset(failingBulk(es, 2), prefix, 'half', incidents, problems)
    await expect(failed).rejects.toThrow(/es_rejected_execution_exception/)
    await expect(failed).rejects.toMatchObject({ code: 'UNAVAILABLE', retriable: true })
    expect(await whatIfIndices(prefix, 'half')).toEqual([])
    await expect(resolveDataset(es, aliasesOf, prefix, 'half')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND', status: 404, errors: [{ path: '/dataset', message: 'names no what-if dataset' }] })

    // The same write through a client that works: visible, complete.
    const written = await writeDataset(es, prefix, 'half', incidents, problems)
    expect(written.incidents).toEqual({ alias: `${prefix}-whatif-half-incidents`, count: 1_001 })
    expect(await resolveDataset(es, aliasesOf, prefix, 'half')).toMatchObject({ dataset: 'half', incidents: `${prefix}-whatif-half-incidents`, problems: `${prefix}-whatif-half-problems` })
    expect((await es.count({ index: `${prefix}-whatif-half-incidents` })).count).toBe(1_001)
  })

  it('drop removes an alias-less leftover of a write killed mid-load, and only that name', async () => {
    const prefix = uniqueName('replay-ds')
    cleanupIndices(prefix)
    const settings = { number_of_shards: 1, number_of_replicas: 0 }
    // Killed after creating the incidents index, before the problems index and the aliases.
    await es.indices.create({ index: `${prefix}-whatif-gone-incidents-000001`, mappings: incidentMappings, settings })
    await es.indices.create({ index: `${prefix}-whatif-gone-a-incidents-000001`, mappings: incidentMappings, settings })
    await expect(resolveDataset(es, aliasesOf, prefix, 'gone')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' })

    expect(await dropDataset(es, prefix, 'gone')).toEqual({ indices: [`${prefix}-whatif-gone-incidents-000001`] })
    expect(await whatIfIndices(prefix, 'gone')).toEqual([`${prefix}-whatif-gone-a-incidents-000001`])
    await expect(dropDataset(es, prefix, 'gone')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' })
  })

  it('a second write of the same name while the first is loading is refused, and the first stays whole', async () => {
    const prefix = uniqueName('replay-ds')
    cleanupIndices(prefix)
    const other = [{ ...incidents[0]!, id: 'inc-ffffffffffffffffffffffff' }] as Incident[]
    // The first write's first bulk request waits for a second write of the same name to be over: the second
    // runs while the first's indices exist without aliases, as a second `--index` started mid-load would.
    let second: Promise<unknown> | undefined
    const racing = new Proxy(es, {
      get(target, prop) {
        if (prop === 'bulk') {
          return async (params: Parameters<Client['bulk']>[0]) => {
            if (!second) {
              second = writeDataset(es, prefix, 'race', other, problems)
              await second.catch(() => undefined)
            }
            return target.bulk(params)
          }
        }
        const value = Reflect.get(target, prop, target) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    const first = await writeDataset(racing, prefix, 'race', incidents, problems)
    await expect(second).rejects.toMatchObject({ code: 'DATASET_BUSY', message: expect.stringMatching(/race/) as unknown })
    expect(first.incidents.count).toBe(1_001)
    // Only the first write's documents, behind both aliases.
    expect(await resolveDataset(es, aliasesOf, prefix, 'race')).toMatchObject({ dataset: 'race' })
    expect((await es.count({ index: `${prefix}-whatif-race-incidents` })).count).toBe(1_001)
    expect((await es.count({ index: `${prefix}-whatif-race-incidents`, query: { ids: { values: [other[0]!.id] } } })).count).toBe(0)
    // Once the first is done, the name can be written again.
    expect((await writeDataset(es, prefix, 'race', other, problems)).incidents.count).toBe(1)
    // A write killed outright leaves its mark: the next one is refused until --drop removes it.
    await es.indices.create({ index: `${prefix}-whatif-race-writing` })
    await expect(writeDataset(es, prefix, 'race', incidents, problems)).rejects.toMatchObject({ code: 'DATASET_BUSY' })
    expect((await dropDataset(es, prefix, 'race')).indices).toContain(`${prefix}-whatif-race-writing`)
    expect((await writeDataset(es, prefix, 'race', other, problems)).incidents.count).toBe(1)
  })
})
