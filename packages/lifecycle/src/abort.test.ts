import { describe, expect, it } from 'vitest'
import { untilAborted } from './abort.ts'

describe('untilAborted', () => {
  it('gives what the promise gives while the signal is not aborted, and without a signal', async () => {
    await expect(untilAborted(new AbortController().signal, Promise.resolve(7))).resolves.toBe(7)
    await expect(untilAborted(undefined, Promise.reject(new Error('down')))).rejects.toThrow('down')
  })

  it('rejects with the reason as soon as the signal aborts, not when a promise that never settles does', async () => {
    const abort = new AbortController()
    const waiting = untilAborted(abort.signal, new Promise<never>(() => undefined))
    abort.abort(new Error('interrupted by SIGINT'))
    await expect(waiting).rejects.toThrow('interrupted by SIGINT')
  })

  it('rejects at once when the signal was aborted before', async () => {
    const abort = new AbortController()
    abort.abort(new Error('already'))
    await expect(untilAborted(abort.signal, Promise.resolve(1))).rejects.toThrow('already')
  })
})
