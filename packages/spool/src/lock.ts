import { randomUUID } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { link, open, readFile, rename, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'

export interface LockTiming {
  /** The holder touches its lock this often. */
  refreshMs: number
  /** A lock not touched for this long is taken over: its holder is gone, wherever it ran. */
  staleMs: number
  /**
   * The monotonic clock `take` measures how long it watched a lock by (tests drive it); performance.now by
   * default. Never the wall clock: a step forward during the wait would look like a lease gone untouched.
   */
  now?: () => number
  /** How `take` waits between two looks at a lock (tests record and skip the waits); setTimeout by default. */
  sleep?: (ms: number) => Promise<void>
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const defaultLockTiming: LockTiming = { refreshMs: 5_000, staleMs: 30_000 }

interface LockHolder {
  owner: string
  host: string
  pid: number
  /** The kernel's boot id and the pid namespace (Linux): a pid is this process's to check only when both are ours. */
  boot?: string
  pidns?: string
}

/** Which running kernel and pid namespace this process is in, or undefined where /proc does not say. */
function pidSpace(): { boot: string; pidns: string } | undefined {
  try {
    return { boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidns: readlinkSync('/proc/self/ns/pid') }
  } catch {
    return undefined
  }
}

/** The directories this process holds: a second open in the same process is refused without a file check. */
const heldHere = new Set<string>()

/**
 * One owner per spool directory: two receivers draining one spool would publish twice and race the cursor.
 *
 * The lock is a lease. Its file names the holder (a random id, the host, the pid, and on Linux the boot id
 * and pid namespace) and the holder touches it every `refreshMs`. A reader never trusts another host's
 * clock nor a pid it cannot check: a lock is stale when the reader has watched it go untouched for
 * `staleMs`, or for two refresh periods when its time (by the reader's clock) is also older than `staleMs`.
 * A live holder touches it within a refresh period, whatever its clock says. Neither a pid nor a host name
 * alone tells holders apart: containers sharing a volume are all pid 1 (each in its own pid namespace),
 * a container restarted after a crash is pid 1 again, and one recreated has a new host name. A lock whose
 * holder ran in this kernel's boot and pid namespace, under a pid that no longer runs, is gone at once.
 *
 * The lock is created by hard-linking a complete file of our own to `lock`, which fails if `lock` exists,
 * so of two receivers starting together one gets it, and `lock` is never seen half written. A takeover
 * holds `lock.takeover` (created exclusively) while it checks the lock again and renames its own over it;
 * a `lock.takeover` older than `staleMs` was left by a crash mid-takeover and is removed. A holder that
 * finds its lock taken over (it stood still past the lease: a SIGSTOP, a frozen VM) calls `onLost`.
 */
export class SpoolLock {
  readonly #dir: string
  readonly #file: string
  readonly #owner: string
  readonly #logger: Logger
  readonly #refresh: NodeJS.Timeout
  readonly #onLost: () => void
  #lost = false

  private constructor(dir: string, owner: string, logger: Logger, timing: LockTiming, onLost: () => void) {
    this.#dir = dir
    this.#file = path.join(dir, 'lock')
    this.#owner = owner
    this.#logger = logger
    this.#onLost = onLost
    this.#refresh = setInterval(() => void this.#touch(), timing.refreshMs)
    this.#refresh.unref()
  }

  /** `onLost`: the lock was taken over while held; the caller must stop using the directory. */
  static async take(dir: string, logger: Logger, timing: LockTiming = defaultLockTiming, onLost: () => void = () => undefined): Promise<SpoolLock> {
    const key = path.resolve(dir)
    const lock = path.join(dir, 'lock')
    const refuse = (why: string): never => {
      const message = `spool ${dir} ${why} (lock file ${lock}). If no receiver uses this directory, delete ${lock} and start again.`
      logger.error({ dir, lock }, message)
      throw new Error(message)
    }
    if (heldHere.has(key)) refuse('is already open in this process')
    heldHere.add(key)
    const clock = { now: timing.now ?? (() => performance.now()), sleep: timing.sleep ?? realSleep }
    const { now, sleep } = clock
    const space = pidSpace()
    const mine: LockHolder = { owner: randomUUID(), host: hostname(), pid: process.pid, ...space }
    const text = JSON.stringify(mine) + '\n'
    const freshFile = path.join(dir, `lock.${mine.owner}.tmp`)
    try {
      // On a full disk (the spool filled it while Kafka was down) no new file can be written: a lock left by
      // a crash is then taken over by writing it in place, which needs no new block.
      const fresh = await writeFile(freshFile, text, { flush: true }).then(() => freshFile, (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err
        return undefined
      })
      const deadline = now() + timing.staleMs + 2 * timing.refreshMs
      // The lock as first seen, by owner and time: how long it has gone untouched is watched on our clock.
      let seen: { owner: string; touchedMs: number; sinceMs: number } | undefined
      for (;;) {
        if (fresh) {
          try {
            await link(fresh, lock)
            return new SpoolLock(dir, mine.owner, logger, timing, onLost)
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
          }
        }
        const held = await readLock(lock)
        if (held === undefined) {
          if (fresh) continue
          const message = `spool ${dir} has no room for its lock file ${lock}: its disk is full (ENOSPC). Free space on it and start again.`
          logger.error({ dir, lock }, message)
          throw new Error(message)
        }
        const at = now()
        if (seen && seen.owner === held.owner && held.touchedMs !== seen.touchedMs) {
          refuse(`is in use by ${held.holder ? `process ${held.holder.pid} on host ${JSON.stringify(held.holder.host)}` : 'another process'}, which keeps its lock fresh`)
        }
        if (!seen || seen.owner !== held.owner) seen = { owner: held.owner, touchedMs: held.touchedMs, sinceMs: at }
        const untouchedMs = at - seen.sinceMs
        const h = held.holder
        const gone = h !== undefined && space !== undefined && h.boot === space.boot && h.pidns === space.pidns && h.pid !== process.pid && !isAlive(h.pid)
        // The lock's time against the wall clock only shortens the watch to two refresh periods (a stepped
        // clock cannot shorten it further): a live holder touches its lock within them.
        const stale = untouchedMs >= timing.staleMs || (untouchedMs >= 2 * timing.refreshMs && Date.now() - held.touchedMs > timing.staleMs)
        if (gone || stale) {
          // Not taken (another is taking it over, or it changed): the next look says which; what was watched stands.
          if (await takeOver(dir, fresh ?? { text }, held, { ...timing, ...clock }, logger)) return new SpoolLock(dir, mine.owner, logger, timing, onLost)
          // Another receiver taking it over renews it within a moment; one that stays stale a lease past the
          // deadline cannot be taken over at all (its guard file is stuck): said, not waited on for ever.
          if (at > deadline + timing.staleMs) refuse(`has a stale lock that cannot be taken over: remove ${path.join(dir, 'lock.takeover')} if no receiver runs`)
          continue
        }
        if (at > deadline) refuse('has a lock that neither goes stale nor is refreshed')
        await sleep(Math.min(500, timing.refreshMs))
      }
    } catch (err) {
      heldHere.delete(key)
      throw err
    } finally {
      await rm(freshFile, { force: true })
    }
  }

  /** Removes the lock if it is still ours: one an operator handed to another receiver stays. */
  async release(): Promise<void> {
    clearInterval(this.#refresh)
    heldHere.delete(path.resolve(this.#dir))
    const held = await readLock(this.#file).catch(() => undefined)
    if (held?.owner === this.#owner) await rm(this.#file, { force: true })
    else if (held !== undefined) this.#logger.warn({ dir: this.#dir, lock: this.#file }, 'spool lock no longer ours at close: left in place')
  }

  /**
   * Whether the lock file still names this holder: one read, for the spool to ask before each write and
   * before acknowledging it, as the refresh alone notices a takeover only up to `refreshMs` late. The first
   * false is the loss (`onLost`); it stays lost. Read synchronously: some microseconds for a file this
   * small, where the two trips through libuv's thread pool of an asynchronous read, twice per batch of
   * appends, cost more than the fsync they guard (a lone webhook's append took 620 µs instead of 280).
   */
  holds(): boolean {
    if (this.#lost) return false
    let text: string | undefined
    try {
      text = readFileSync(this.#file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const held = text === undefined ? undefined : holderOf(text)
    if (held?.owner === this.#owner) return true
    this.#lose(held?.holder)
    return false
  }

  async #touch(): Promise<void> {
    try {
      const held = await readLock(this.#file)
      if (held?.owner === this.#owner) {
        const now = new Date()
        await utimes(this.#file, now, now)
        return
      }
      this.#lose(held?.holder)
    } catch (err) {
      this.#logger.warn({ err, dir: this.#dir }, 'spool lock not refreshed')
    }
  }

  /** Taken over: this process stood still past the lease (a SIGSTOP, a frozen VM). The directory is another's now. */
  #lose(holder: LockHolder | undefined): void {
    if (this.#lost) return
    this.#lost = true
    clearInterval(this.#refresh)
    this.#logger.error({ dir: this.#dir, lock: this.#file, holder }, 'spool lock taken over by another process: this spool stops using the directory')
    this.#onLost()
  }
}

interface HeldLock {
  /** The holder's id, or the file's text when it is not ours to read (an older version's bare pid). */
  owner: string
  holder: LockHolder | undefined
  touchedMs: number
}

/** What `lock` holds, or undefined if there is none. */
async function readLock(lock: string): Promise<HeldLock | undefined> {
  let text: string
  let touchedMs: number
  try {
    text = await readFile(lock, 'utf8')
    touchedMs = (await stat(lock)).mtimeMs
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return { ...holderOf(text), touchedMs }
}

function holderOf(text: string): Omit<HeldLock, 'touchedMs'> {
  const h = (() => { try { return JSON.parse(text) as Partial<LockHolder> } catch { return undefined } })()
  if (typeof h?.owner === 'string' && typeof h.host === 'string' && Number.isSafeInteger(h.pid) && h.pid! > 0) {
    const space = typeof h.boot === 'string' && typeof h.pidns === 'string' ? { boot: h.boot, pidns: h.pidns } : {}
    return { owner: h.owner, holder: { owner: h.owner, host: h.host, pid: h.pid!, ...space } }
  }
  return { owner: text, holder: undefined }
}

/**
 * Renames `fresh` over the stale lock `held` (or, on a full disk, writes `text` over its content), unless
 * another took it over first; true if we hold it now.
 */
async function takeOver(dir: string, fresh: string | { text: string }, held: HeldLock, timing: Required<LockTiming>, logger: Logger): Promise<boolean> {
  const { sleep } = timing
  const guardFile = path.join(dir, 'lock.takeover')
  let guard: FileHandle
  try {
    guard = await open(guardFile, 'wx')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const left = await stat(guardFile).catch(() => undefined)
    // A guard is held for milliseconds: one older than the lease, or as far in the future (the clock stepped
    // back since a crash left it), is a crash's, and waiting on it would wait for ever.
    if (left && Math.abs(Date.now() - left.mtimeMs) > timing.staleMs) {
      logger.warn({ dir, guard: guardFile }, 'spool lock takeover guard left by a crash removed')
      await rm(guardFile, { force: true })
    } else {
      // Another receiver is taking over: its lock will be fresh, and the next look says whose it is.
      await sleep(100)
    }
    return false
  }
  try {
    const again = await readLock(path.join(dir, 'lock'))
    if (again?.owner !== held.owner || again.touchedMs !== held.touchedMs) return false
    if (typeof fresh === 'string') await rename(fresh, path.join(dir, 'lock'))
    else await overwrite(path.join(dir, 'lock'), fresh.text)
    logger.warn({ dir, previous: held.holder ?? held.owner.slice(0, 100) }, 'spool lock of a process that is gone taken over')
    return true
  } finally {
    await guard.close()
    await rm(guardFile, { force: true })
  }
}

/**
 * Writes `text` over the file's content, in the block it already has. Not atomic: a reader may see it half
 * written, which it reads as another owner (a lock changing hands), never as this one. Padded with spaces
 * (JSON's whitespace) to the old length, in one write with no truncate after it: a crash between the two
 * left the old text's tail behind the new, a lock no one could parse, which the next start waited a whole
 * lease on.
 */
async function overwrite(file: string, text: string): Promise<void> {
  const handle = await open(file, 'r+')
  try {
    const { size } = await handle.stat()
    const bytes = Buffer.alloc(Math.max(size, Buffer.byteLength(text)), ' ')
    bytes.write(text)
    await handle.write(bytes, 0, bytes.length, 0)
    await handle.datasync()
  } finally {
    await handle.close()
  }
}

function isAlive(pid: number): boolean {
  // EPERM: the process exists, only another user's.
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}
