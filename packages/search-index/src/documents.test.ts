import { describe, expect, it } from 'vitest'
import type { Client } from '@elastic/elasticsearch'
import { alertDocument, incidentDocument, problemDocument } from './documents.ts'
import { IndexerError } from './errors.ts'
import { indexNames, liveAlertMonths } from './templates.ts'

const n = indexNames('t').alerts
const alert = (overrides: Record<string, unknown>) => JSON.stringify({ id: 'a'.repeat(32), status: 'firing', startsAt: '2026-11-01T00:00:00Z', ...overrides })
const failure = (f: () => unknown) => {
  try { f() } catch (err) { return err }
  throw new Error('did not throw')
}

describe('documents refuse what can never be written, with a catalogue code', () => {
  it('files an alert under its month', () => {
    expect(alertDocument(n.indexFor)(alert({})).index).toBe('t-alerts-2026.11')
  })

  it('refuses an event time with no four-digit year: no month index can hold it', () => {
    for (const startsAt of ['+010000-01-01T23:58:59.000Z', '9999-12-31T23:59:59-23:59']) {
      const err = failure(() => alertDocument(n.indexFor)(alert({ startsAt })))
      expect(err).toBeInstanceOf(IndexerError)
      expect(err).toMatchObject({ code: 'invalid-target', retriable: false })
    }
  })

  it('tells a record that is not JSON from one that is not what the topic holds', () => {
    expect(failure(() => alertDocument(n.indexFor)('{"id":'))).toBeInstanceOf(SyntaxError)
    expect(failure(() => alertDocument(n.indexFor)(alert({ startsAt: 'yesterday' })))).toMatchObject({ code: 'schema-invalid' })
    expect(failure(() => incidentDocument('t-incidents')('{"id":"x"}'))).toMatchObject({ code: 'schema-invalid' })
  })

  it('refuses an id Elasticsearch would refuse, with every document in its bulk request: none, empty, over 512 UTF-8 bytes', () => {
    // 171 three-byte characters: 513 bytes in 171 characters.
    for (const id of [undefined, 42, '', 'a'.repeat(513), '€'.repeat(171)]) {
      for (const record of [() => alertDocument(n.indexFor)(alert({ id })), () => incidentDocument('t-incidents')(JSON.stringify({ id, version: 1 })), () => problemDocument('t-problems')(JSON.stringify({ id, version: 1 }))]) {
        const err = failure(record)
        expect(err).toBeInstanceOf(IndexerError)
        expect(err).toMatchObject({ code: 'schema-invalid', retriable: false })
      }
    }
    for (const id of ['a'.repeat(512), '€'.repeat(170)]) {
      expect(alertDocument(n.indexFor)(alert({ id })).id).toBe(id)
      expect(incidentDocument('t-incidents')(JSON.stringify({ id, version: 1 })).id).toBe(id)
      expect(problemDocument('t-problems')(JSON.stringify({ id, version: 1 })).id).toBe(id)
    }
  })

  it('refuses a version Elasticsearch would refuse (below 0) or truncate (not whole), and takes 0 and 2^53 - 1', () => {
    for (const version of [-1, 3.7, 2 ** 53, '2', null]) {
      for (const documentFor of [incidentDocument('t-incidents'), problemDocument('t-problems')]) {
        const err = failure(() => documentFor(JSON.stringify({ id: 'x', version })))
        expect(err).toBeInstanceOf(IndexerError)
        expect(err).toMatchObject({ code: 'schema-invalid', retriable: false })
      }
    }
    for (const version of [0, 7, Number.MAX_SAFE_INTEGER]) {
      expect(incidentDocument('t-incidents')(JSON.stringify({ id: 'x', version })).version).toBe(version)
      expect(problemDocument('t-problems')(JSON.stringify({ id: 'x', version })).version).toBe(version)
    }
  })

  it('writes a record another producer wrote over several lines as one line, the form a bulk body needs', () => {
    const pretty = JSON.stringify({ id: 'a'.repeat(32), status: 'firing', startsAt: '2026-11-01T00:00:00Z', labels: { a: 'x\ny' } }, null, 2)
    const alertDoc = alertDocument(n.indexFor)(`\r\n${pretty}\n`).document
    expect(alertDoc).not.toMatch(/[\r\n]/)
    expect(JSON.parse(alertDoc)).toEqual({ ...JSON.parse(pretty), eventAt: '2026-11-01T00:00:00.000Z' })
    const problem = JSON.stringify({ id: 'prb-1', version: 2, title: 'multi\nline' }, null, 1)
    const problemDoc = problemDocument('t-problems')(problem).document
    expect(problemDoc).not.toMatch(/[\r\n]/)
    expect(JSON.parse(problemDoc)).toEqual(JSON.parse(problem))
    // A one-line record is sent as it is, without a second serialisation.
    const line = alert({})
    expect(alertDocument(n.indexFor)(line).document.startsWith(line.slice(0, -1))).toBe(true)
  })

  it('refuses to prepare a target under the alerts prefix that is no month alias, before asking Elasticsearch', async () => {
    const months = liveAlertMonths({} as Client, 't')
    await expect(months.prepare(new Set(['t-alerts-+010.00']))).rejects.toMatchObject({ code: 'invalid-target' })
    await expect(months.prepare(new Set(['t-incidents']))).resolves.toBeUndefined()
  })
})
