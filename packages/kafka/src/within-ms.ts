import { settleWithin } from '@opsreview/lifecycle/deadline'
import { KafkaUnavailableError } from './errors.ts'

/**
 * `promise`, or a KafkaUnavailableError with `message` (retriable: the caller's retry policy takes it) when it
 * has not settled `ms` after the call (`settleWithin`).
 */
export function withinMs<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return settleWithin(promise, ms, () => new KafkaUnavailableError(message))
}
