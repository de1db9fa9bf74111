// A real headless Chromium for the page tests: Debian's package (.ci/run installs it), driven by
// playwright-core, which never downloads a browser of its own. With CI=true a missing Chromium
// fails the run; elsewhere the browser tests skip, saying so.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { gate } from "./services.ts";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const HAVE_CHROMIUM = gate(
  "Chromium (browser tests)",
  (await Bun.file(CHROMIUM_PATH).exists()) ? undefined : `${CHROMIUM_PATH} is missing (apt-get install chromium, or set CHROMIUM_PATH)`,
);

/** Where the tests write screenshots (gitignored; CI keeps the folder). */
export const SCREENSHOTS = join(import.meta.dir, "..", "artifacts", "screenshots");

export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/**
 * The flags this machine's closed network needs (no background connections, no component or
 * sync updates), and every host but loopback unresolvable: a page that reached for another host
 * would fail visibly, besides being caught by `recordRequests`. Playwright gives each launch a
 * fresh, empty profile.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
}

export type Recorder = { requests: string[]; failures: string[]; problems: string[] };

export const newRecorder = (): Recorder => ({ requests: [], failures: [], problems: [] });

/**
 * Records every request any page of the context makes, every answer of 400 or more
 * ("404 GET /path"), and every console error, uncaught exception and CSP violation (Chromium
 * reports those on the console; its "Failed to load resource" lines are the failures' echo).
 */
export function recordRequests(context: BrowserContext, recorder: Recorder): void {
  context.on("request", (r) => recorder.requests.push(r.url()));
  context.on("response", (r) => {
    if (r.status() >= 400) recorder.failures.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  context.on("page", (page) => watchPage(page, recorder));
  for (const page of context.pages()) watchPage(page, recorder);
}

function watchPage(page: Page, recorder: Recorder) {
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource:")) recorder.problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => recorder.problems.push(`page error: ${e.message}`));
}

/** A full-page PNG under test/artifacts/screenshots/; fails if the page is wider than the screen (it would scroll sideways). */
export async function screenshot(page: Page, name: string): Promise<void> {
  // Runs in the page (this file is type-checked without the DOM library).
  const overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
  if (typeof overflow === "number" && overflow > 0) throw new Error(`${name}: the page is ${overflow} px wider than the screen`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: "disabled", caret: "hide" });
}
