// The Agents & Tasks screen over a big store (docs/benchmarks.md): a real chromium against
// `flightdeck serve` on a data dir holding 100,000 tasks and one task with 1,000 steps (made
// by `cargo bench -p flightdeck-api --bench tasks_list` with FLIGHTDECK_BENCH_KEEP). Times,
// from the browser: the screen to its first rows, the next server page ("Next" past the
// loaded rows), and the drawer of the 1,000-step task to its whole timeline. Prints figures;
// asserts only that what it waits for appears. Run by scripts/bench-ui.sh.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [base, token, longId] = process.argv.slice(2);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = createRequire(path.join(repo, "ui", "package.json"))("playwright-core");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" });
const sel = (id) => `[data-testid="${id}"]`;
const runs = [];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (let i = 0; i < 5; i++) {
  // A fresh page each run: nothing cached.
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(`${base}/#token=${encodeURIComponent(token)}`);
  await page.click(sel("nav-agents"));
  try {
    await page.waitForSelector(sel("task-row"), { timeout: 30_000 });
  } catch (e) {
    await page.screenshot({ path: "/tmp/bench-ui.png" });
    throw e;
  }
  const first = performance.now() - t0;
  // Past the 100 loaded rows (4 pages of 25), "Next" fetches the next 100 from the node.
  for (let p = 0; p < 3; p++) await page.click(sel("page-next"));
  const label = await page.textContent(sel("page-label"));
  if (!label?.includes("of 100")) throw new Error(`expected the last of 100 loaded rows, saw ${label}`);
  const t1 = performance.now();
  await page.click(sel("page-next"));
  await page.waitForFunction((before) => document.querySelector('[data-testid="page-label"]')?.textContent !== before, label);
  await page.waitForFunction(() => document.querySelector('[data-testid="page-label"]')?.textContent?.includes("of 200"));
  const next = performance.now() - t1;
  const t2 = performance.now();
  await page.evaluate((id) => {
    window.location.hash = `#/agents/tasks/${id}`;
  }, longId);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="timeline-step"]').length === 1000, null, { timeout: 30_000 });
  const long = performance.now() - t2;
  const t3 = performance.now();
  await page.evaluate(() => {
    window.location.hash = "#/agents";
  });
  await page.waitForSelector(sel("task-drawer"), { state: "hidden" });
  const close = performance.now() - t3;
  runs.push({ first, next, long, close });
  await context.close();
}
const fmt = (k) => `median ${median(runs.map((r) => r[k])).toFixed(0)} ms (runs: ${runs.map((r) => r[k].toFixed(0)).join(", ")})`;
console.log(`Agents & Tasks over 100,000 tasks, ${runs.length} runs:`);
console.log(`  load to the first rows:            ${fmt("first")}`);
console.log(`  "Next" to the next server page:     ${fmt("next")}`);
console.log(`  1,000-step task drawer, whole:     ${fmt("long")}`);
console.log(`  closing that drawer:               ${fmt("close")}`);
await browser.close();
