// Chromium for the browser tests: Debian's package, or the binary OPSREVIEW_CHROMIUM names.
import { afterAll, onTestFinished } from 'vitest'
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core'

const chromiumPath = process.env.OPSREVIEW_CHROMIUM ?? '/usr/bin/chromium'

// Headless, and nothing that reaches out on its own: this machine has no network beyond the package registries.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** A headless Chromium; `timeZone` is its own zone (TZ), for a page that must see another zone than the test's. */
export function launchChromium(timeZone?: string): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args, ...(timeZone ? { env: { ...process.env, TZ: timeZone } } : {}) })
}

/**
 * Pages for one test file, from one Chromium per zone (`timezoneId`, UTC when none), launched on first use
 * and closed after the file: a launch and its close took seconds per test under load. Each page has a
 * browser context of its own, closed when its test finishes, so nothing a page kept outlives its test.
 * Its routes go first, their handlers' errors ignored: a handler still in `route.fetch()` when the context
 * closes (a reload the test did not wait for) otherwise fails as an unhandled rejection, charged to whichever
 * test runs then. Call it at the top of the file.
 */
export function browserPages(): (options?: BrowserContextOptions) => Promise<Page> {
  const browsers = new Map<string, Promise<Browser>>()
  afterAll(async () => { for (const b of browsers.values()) await (await b).close() })
  return async (options = {}) => {
    const zone = options.timezoneId ?? 'UTC'
    let browser = browsers.get(zone)
    if (!browser) browsers.set(zone, (browser = launchChromium(zone)))
    const context = await (await browser).newContext({ ...options, timezoneId: zone })
    onTestFinished(async () => {
      try {
        await context.unrouteAll({ behavior: 'ignoreErrors' })
        for (const page of context.pages()) await page.unrouteAll({ behavior: 'ignoreErrors' })
      } finally {
        // A browser that crashed fails the unrouting: its context is closed all the same.
        await context.close()
      }
    })
    return context.newPage()
  }
}
