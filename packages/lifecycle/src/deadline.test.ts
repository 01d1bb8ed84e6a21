import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { deadlineIn, settleWithin } from './deadline.ts'

describe('deadlineIn', () => {
  it('counts down on the monotonic clock, whatever the wall clock does', () => {
    vi.useFakeTimers({ toFake: ['performance', 'Date'] })
    onTestFinished(() => { vi.useRealTimers() })
    const deadline = deadlineIn(1000)
    // An NTP step back of an hour: the deadline still passes a second from its start.
    vi.setSystemTime(Date.now() - 3_600_000)
    vi.advanceTimersByTime(400)
    expect(deadline.left()).toBe(600)
    expect(deadline.passed()).toBe(false)
    vi.advanceTimersByTime(600)
    expect(deadline.left()).toBe(0)
    expect(deadline.passed()).toBe(true)
  })

  it('never passes when it is Infinity away', () => {
    const deadline = deadlineIn(Infinity)
    expect(deadline.passed()).toBe(false)
    expect(deadline.left()).toBe(Infinity)
  })
})

describe('settleWithin', () => {
  const fakeTimers = () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => { vi.useRealTimers() })
  }
  class TooSlow extends Error {}
  const tooSlow = (message = 'too slow') => () => new TooSlow(message)
  const later = <T>() => {
    let resolve!: (value: T) => void
    let reject!: (err: unknown) => void
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }

  it('is the promise\'s value when it comes in time, and leaves no timer behind', async () => {
    fakeTimers()
    const call = later<string>()
    const raced = settleWithin(call.promise, 100, tooSlow())
    await vi.advanceTimersByTimeAsync(99)
    call.resolve('answer')
    expect(await raced).toBe('answer')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('is the promise\'s own error when it fails in time, and leaves no timer behind', async () => {
    fakeTimers()
    const refused = new Error('refused')
    await expect(settleWithin(Promise.reject(refused), 100, tooSlow())).rejects.toBe(refused)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('fails with the error made for it once the time has passed, and not before', async () => {
    fakeTimers()
    const call = later<string>()
    const outcome = settleWithin(call.promise, 100, tooSlow('the offsets did not come within 100 ms')).then(() => 'resolved', (err: unknown) => err)
    await vi.advanceTimersByTimeAsync(99)
    expect(await Promise.race([outcome, Promise.resolve('pending')])).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    const err = await outcome
    expect(err).toBeInstanceOf(TooSlow)
    expect(err).toMatchObject({ message: 'the offsets did not come within 100 ms' })
  })

  it('ignores what the promise does after the time has passed: a late rejection is not unhandled', async () => {
    fakeTimers()
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    onTestFinished(() => { process.off('unhandledRejection', onUnhandled) })
    const call = later<string>()
    const timedOut = expect(settleWithin(call.promise, 100, tooSlow())).rejects.toBeInstanceOf(TooSlow)
    await vi.advanceTimersByTimeAsync(100)
    await timedOut
    call.reject(new Error('late'))
    // Unhandled rejections are reported after the microtasks of the turn: wait a turn of the real loop.
    vi.useRealTimers()
    await new Promise((resolve) => setImmediate(resolve))
    expect(unhandled).toEqual([])
  })
})
