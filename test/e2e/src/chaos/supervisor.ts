/**
 * Runs the services and Alertmanager as processes the chaos run can SIGKILL and restart, like a process
 * supervisor would (systemd, Kubernetes): a service that exits by itself is restarted too, and counted.
 * Independent of vitest, so `pnpm chaos` runs it from plain node; logs go to files in the run's folder.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { repoRoot, waitFor } from '@opsreview/testing'
import { alertmanagerConfig, freePort, processEnv, spawnAlertmanager } from '../processes.ts'

export type ServiceName = 'receiver' | 'indexer' | 'correlator'

const READY: Record<ServiceName, string> = { receiver: 'connected to kafka', indexer: 'indexer consuming', correlator: 'correlator running' }

export type Note = (message: string) => void

/** One service instance, kept running: `kill` sends a signal and waits for the exit, `start` brings it back. */
export class SupervisedService {
  readonly name: ServiceName
  /** How notes and the report name this instance: `receiver`, or `receiver-2` when a service runs twice. */
  readonly label: string
  readonly #env: Record<string, string>
  readonly #log: WriteStream
  readonly #note: Note
  #child: ChildProcess | undefined
  #exited: Promise<unknown> = Promise.resolve()
  /** running: an exit nobody asked for is a crash and the service is restarted. */
  #state: 'starting' | 'running' | 'stopping' | 'closed' = 'stopping'
  /** Exits nobody asked for (crashes), with their code or signal. */
  readonly crashes: string[] = []
  starts = 0

  constructor(name: ServiceName, env: Record<string, string>, logFile: string, note: Note, label: string = name) {
    this.name = name
    this.label = label
    this.#env = env
    this.#log = createWriteStream(logFile, { flags: 'a' })
    this.#note = note
  }

  get pid(): number | undefined { return this.#child?.pid }

  /** Starts the service and waits for its ready log line (a crash before it is retried, like a supervisor would). */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'starting'
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const ready = await this.#spawnOnce(Math.max(1000, deadline - Date.now()))
      if ((this.#state as string) === 'closed') return
      if (ready) { this.#state = 'running'; return }
      if (Date.now() > deadline) throw new Error(`${this.label} did not become ready within ${timeoutMs} ms (see its log)`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }

  async #spawnOnce(timeoutMs: number): Promise<boolean> {
    this.starts++
    // Small heaps: the machine is shared, and these services need little.
    const child = spawn(process.execPath, ['--max-old-space-size=256', '--conditions=@opsreview/source', path.join(repoRoot, `services/${this.name}/src/main.ts`)], {
      env: { ...processEnv(), OPSREVIEW_LOG_LEVEL: 'info', ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#child = child
    let ready = false
    let pending = ''
    const onData = (chunk: Buffer) => {
      this.#log.write(chunk)
      if (ready) return
      pending += chunk.toString()
      if (pending.includes(`"msg":"${READY[this.name]}"`)) ready = true
      pending = pending.slice(-4096)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    this.#exited = once(child, 'exit').then(([code, signal]) => {
      this.#log.write(`\n[chaos] ${this.label} pid ${child.pid} exited: ${String(signal ?? code)}\n`)
      if (this.#state === 'starting') {
        this.crashes.push(`${String(signal ?? code)} while starting`)
      } else if (this.#state === 'running') {
        this.crashes.push(String(signal ?? code))
        this.#note(`${this.label} exited by itself (${String(signal ?? code)}); restarting it`)
        void this.start().catch((err: unknown) => this.#note(`${this.label} restart failed: ${String(err)}`))
      }
    })
    try {
      await waitFor(() => (ready ? true : child.exitCode !== null || child.signalCode !== null ? false : undefined), { timeoutMs, intervalMs: 100, what: `${this.label} to be ready` })
    } catch {
      child.kill('SIGKILL')
      await this.#exited
      return false
    }
    return ready
  }

  /** Sends `signal` and waits for the exit (a SIGTERM that does not end it within 20 s is followed by SIGKILL). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (this.#state !== 'closed') this.#state = 'stopping'
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await this.#exited
    clearTimeout(timer)
  }

  async close(): Promise<void> {
    this.#state = 'closed'
    await this.kill('SIGTERM')
    await new Promise((r) => this.#log.end(r))
  }
}

/**
 * Alertmanager's configuration with one opsreview webhook per URL in its one receiver: every notification
 * goes to each of them, as an operator sends to every receiver instance so that one being down loses
 * nothing (and each state then arrives once per receiver).
 */
export function alertmanagerConfigFor(webhookUrls: readonly string[], token: string, groupInterval: string): string {
  const [first, ...others] = webhookUrls
  if (first === undefined) throw new Error('Alertmanager needs at least one webhook URL')
  const config = alertmanagerConfig(first, token, groupInterval)
  // The webhook is the config's last block: repeated for each further URL, with the same settings.
  const block = config.slice(config.indexOf('      - url: '))
  return config + others.map((u) => block.replace(JSON.stringify(first), JSON.stringify(u))).join('')
}

/** A real Alertmanager (Debian's package) whose only receiver posts to the opsreview webhook(s). */
export async function startAlertmanager(dir: string, webhookUrls: readonly string[], token: string): Promise<{ url: string; close: () => Promise<void> }> {
  await mkdir(dir, { recursive: true })
  const port = await freePort()
  // Small group_wait and group_interval: state changes go out within seconds, and a failed notification
  // is retried by Alertmanager itself (its notify retries, then the next flush of the group).
  const log = createWriteStream(path.join(dir, 'alertmanager.log'), { flags: 'a' })
  const child = await spawnAlertmanager(dir, port, alertmanagerConfigFor(webhookUrls, token, '2s'))
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  const exited = once(child, 'exit')
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? true : undefined), { timeoutMs: 30_000, what: 'alertmanager to be ready' })
  return {
    url,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
