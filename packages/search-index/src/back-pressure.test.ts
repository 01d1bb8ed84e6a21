import pino from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createBackPressure } from './back-pressure.ts'

const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9200'))
const written = () => Promise.resolve('ok')

/** The indexer's breaker, with a reset time short enough to watch it recover. */
async function openBreaker() {
  const calls = { pause: 0, resume: 0 }
  const backPressure = createBackPressure({ logger: pino({ level: 'silent' }), pause: () => { calls.pause++ }, resume: () => { calls.resume++ }, resetTimeoutMs: 20 })
  onTestFinished(() => backPressure.shutdown())
  for (let i = 0; i < 3; i++) await backPressure.guard(unreachable).catch(() => undefined)
  expect(backPressure.state).toBe('open')
  expect(calls.pause).toBe(1)
  return { backPressure, calls }
}

describe('back-pressure', () => {
  it('resumes consumption when the breaker lets a trial through, and when it closes', async () => {
    const { backPressure, calls } = await openBreaker()
    await expect.poll(() => backPressure.state).toBe('half-open')
    expect(calls.resume).toBe(1)
    await backPressure.guard(written)
    expect(backPressure.state).toBe('closed')
    expect(calls.resume).toBe(2)
  })

  it('once shutdown has begun, leaves consumption paused however the breaker recovers, and still guards the drain', async () => {
    const { backPressure, calls } = await openBreaker()
    backPressure.stopResuming()
    await expect.poll(() => backPressure.state).toBe('half-open')
    // The drain's requests still go through the breaker: it was not shut down.
    await expect(backPressure.guard(written)).resolves.toBe('ok')
    expect(backPressure.state).toBe('closed')
    expect(calls.resume).toBe(0)
  })
})
