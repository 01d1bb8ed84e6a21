// Tests make scratch directories with os.tmpdir() (spools, config files, certificates, Alertmanager's data)
// and start services that inherit TMPDIR. Pointing TMPDIR at one directory per run and removing it when the
// run ends cleans up after every test, including those that fail or time out before their own cleanup.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export default function setup(): (() => void) | undefined {
  // Every project extends the root config, so this runs once per project: the first one owns the directory.
  if (process.env.OPSREVIEW_TEST_SCRATCH) return undefined
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsreview-test-'))
  process.env.OPSREVIEW_TEST_SCRATCH = dir
  process.env.TMPDIR = dir
  return () => rmSync(dir, { recursive: true, force: true })
}
