// Launching Debian's Chromium for the browser tests: playwright-core drives the system browser and never
// downloads one.
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The command-line switches every browser test launches Chromium with: headless CI, nothing fetched. */
const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A `skip` reason for `describe` when there is no Chromium at {@link CHROMIUM}, else false. */
export const chromiumSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium): browser tests skipped`;

/** What a test may set on the browser it launches (the window size: the pages lay out by it). */
export interface LaunchOptions {
  viewport?: { width: number; height: number };
}

/**
 * Start headless Chromium with a fresh profile in `profileDir` (a temporary folder the caller removes).
 * Downloads are accepted (playwright's default), so a test reads what a page saves.
 */
export function launchChromium(profileDir: string, options: LaunchOptions = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
    ...options,
  });
}
