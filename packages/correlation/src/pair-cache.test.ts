import { describe, expect, it } from 'vitest'
import { PairCache } from './pair-cache.ts'

describe('PairCache', () => {
  it('remembers a value by both keys', () => {
    const cache = new PairCache<string>()
    expect(cache.get('checkout', 'prod')).toBeUndefined()
    expect(cache.set('checkout', 'prod', 'checkout/prod')).toBe('checkout/prod')
    cache.set('checkout', 'staging', 'checkout/staging')
    expect([cache.get('checkout', 'prod'), cache.get('checkout', 'staging'), cache.get('search', 'prod')]).toEqual(['checkout/prod', 'checkout/staging', undefined])
    expect(cache.size).toBe(2)
  })

  it('holds at most its maximum, over any number of first and second keys, and keeps the newest', () => {
    const cache = new PairCache<number>(100)
    for (let i = 0; i < 10_000; i++) cache.set(`service-${i}`, `pr-${i % 7}`, i)
    expect(cache.size).toBeLessThanOrEqual(100)
    for (let i = 0; i < 10_000; i++) cache.set('one-service', `env-${i}`, i)
    expect(cache.size).toBeLessThanOrEqual(100)
    expect(cache.get('one-service', 'env-9999')).toBe(9999)
  })
})
