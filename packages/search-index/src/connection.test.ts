import { describe, expect, it } from 'vitest'
import { elasticsearchConnectionOptions } from './connection.ts'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

describe('elasticsearchConnectionOptions', () => {
  it('gives the node only by default', () => {
    expect(elasticsearchConnectionOptions({ OPSREVIEW_ES_URL: 'http://127.0.0.1:9200', OPSREVIEW_ES_API_KEY: '', OPSREVIEW_ES_CA: undefined })).toEqual({ node: 'http://127.0.0.1:9200' })
  })

  it('adds the API key as auth.apiKey and the CA as tls.ca', () => {
    expect(elasticsearchConnectionOptions({ OPSREVIEW_ES_URL: 'https://es:9200', OPSREVIEW_ES_API_KEY: 'a2V5', OPSREVIEW_ES_CA: PEM }))
      .toEqual({ node: 'https://es:9200', auth: { apiKey: 'a2V5' }, tls: { ca: PEM } })
  })
})
