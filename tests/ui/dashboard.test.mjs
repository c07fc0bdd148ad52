// End-to-end test of the web dashboard against the real `flightdeck serve` binary and a real
// headless Chromium (Debian's, driven by playwright-core; no browser download).
//
// Needs: FLIGHTDECK_BIN (path to the binary) and a built UI in ui/dist (`npm run build`).
// Run from ui/: `FLIGHTDECK_BIN=../target/debug/flightdeck npm run e2e`.
//
// Every wait is bounded; the node and the browser are always killed in `after`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// playwright-core is a dev dependency of ui/, which is not on this file's resolution path.
const requireFromUi = createRequire(path.join(repo, "ui", "package.json"));
const { chromium } = requireFromUi("playwright-core");

const BIN = process.env.FLIGHTDECK_BIN;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const UI_DIR = path.join(repo, "ui", "dist");
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.join(repo, "target", "test-artifacts");
const TOKEN = randomBytes(24).toString("base64url");

const LISTEN_TIMEOUT_MS = 20_000;
const UI_TIMEOUT_MS = 15_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Races `promise` against a timer; the message says what we were waiting for. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The environment for a node under test: none of the developer's Flightdeck settings
 * (FLIGHTDECK_*, RUST_LOG) and a private config dir, so a `~/.config/flightdeck` file or an
 * exported override cannot change what the test sees.
 */
function isolatedEnv(dataDir) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("FLIGHTDECK_") && k !== "RUST_LOG") env[k] = v;
  }
  env.XDG_CONFIG_HOME = path.join(dataDir, ".config");
  return env;
}

/**
 * Starts `flightdeck serve` and resolves once it prints `listening on http://127.0.0.1:<port>`.
 * The returned handle's `exited` resolves with the exit code and signal.
 */
function startNode({ dataDir, listen, config, env = {} }) {
  const args = ["serve", "--data-dir", dataDir, "--listen", listen, "--ui-dir", UI_DIR, "--secrets", "env"];
  if (config) args.push("--config", config);
  const child = spawn(BIN, args, {
    env: { ...isolatedEnv(dataDir), FLIGHTDECK_API_TOKEN: TOKEN, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const port = new Promise((resolve, reject) => {
    const scan = (stream, name) => {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          output.push(`[${name}] ${line}`);
          if (output.length > 400) output.shift();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (m) resolve(Number(m[1]));
        }
      });
    };
    scan(child.stdout, "stdout");
    scan(child.stderr, "stderr");
    child.once("error", reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`flightdeck exited (code ${code}, signal ${signal}) before listening:\n${output.join("\n")}`)),
    );
  });
  const handle = { child, exited, output, port: 0 };
  return within(LISTEN_TIMEOUT_MS, `"listening on" from ${BIN}\n${output.join("\n")}`, port).then(
    (p) => {
      handle.port = p;
      return handle;
    },
    (err) => {
      child.kill("SIGKILL");
      throw err;
    },
  );
}

async function stopNode(node, signal = "SIGTERM") {
  if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return node ? node.exited : null;
  node.child.kill(signal);
  try {
    return await within(10_000, "the node to exit", node.exited);
  } catch {
    node.child.kill("SIGKILL");
    return node.exited;
  }
}

/** The scripted provider binary (built beside flightdeck) on a free port: its process and its base URL. */
function startScriptedProvider() {
  const child = spawn(path.join(path.dirname(BIN), "scripted-provider"), ["--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const base = within(
    10_000,
    "the scripted provider's address",
    new Promise((resolve, reject) => {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk) => {
        const m = /listening on (http:\/\/[\d.:]+)/.exec(chunk);
        if (m) resolve(m[1]);
      });
      child.once("exit", (code) => reject(new Error(`scripted-provider exited (${code})`)));
    }),
  );
  return { child, base };
}

const byTestId = (id) => `[data-testid="${id}"]`;

/**
 * A node in `dir` whose route `default` goes to the scripted provider's `gpt-e2e`, priced
 * $2 / $8 per million tokens (a paid provider on loopback: `local = false`).
 */
async function startPricedNode(dir, spBase) {
  const config = path.join(dir, "flightdeck.toml");
  await writeFile(
    config,
    `[providers.scripted]\nkind = "openai"\nbase_url = "${spBase}/v1"\nlocal = false\n\n` +
      `[routes.default]\nchain = ["scripted/gpt-e2e"]\n\n` +
      `[prices."scripted/gpt-e2e"]\ninput = 2\noutput = 8\n`,
  );
  return startNode({ dataDir: path.join(dir, "data"), listen: "127.0.0.1:0", config });
}

async function connState(page) {
  return page.getAttribute(byTestId("conn-status"), "data-state", { timeout: UI_TIMEOUT_MS });
}

async function waitConn(page, state, timeout = UI_TIMEOUT_MS) {
  await page.waitForSelector(`${byTestId("conn-status")}[data-state="${state}"]`, { timeout });
}

async function readInt(page, id) {
  const text = await page.textContent(byTestId(id), { timeout: UI_TIMEOUT_MS });
  const n = Number.parseInt((text ?? "").trim(), 10);
  assert.ok(Number.isFinite(n), `${id} should hold a number, got ${JSON.stringify(text)}`);
  return n;
}

/** Resolves once the number in `id` is greater than `than`; bounded. */
async function waitIntAbove(page, id, than, timeout = 8000) {
  await page.waitForFunction(
    ([sel, min]) => {
      const el = document.querySelector(sel);
      const n = el ? Number.parseInt((el.textContent ?? "").trim(), 10) : Number.NaN;
      return Number.isFinite(n) && n > min;
    },
    [byTestId(id), than],
    { timeout },
  );
  return readInt(page, id);
}

describe("web dashboard against flightdeck serve", { timeout: 180_000 }, () => {
  let dataDir;
  let node;
  let browser;
  let context;
  let page;
  let base;
  const pageErrors = [];
  const cspViolations = [];

  before(async () => {
    assert.ok(BIN, "FLIGHTDECK_BIN is not set: point it at the flightdeck binary (e.g. target/debug/flightdeck)");
    assert.ok(existsSync(BIN), `FLIGHTDECK_BIN=${BIN} does not exist`);
    assert.ok(existsSync(path.join(UI_DIR, "index.html")), `${UI_DIR}/index.html is missing: run \`npm run build\` in ui/`);
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-"));
    node = await startNode({ dataDir, listen: "127.0.0.1:0" });
    base = `http://127.0.0.1:${node.port}`;
    browser = await within(
      30_000,
      "Chromium to start",
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
        timeout: 30_000,
      }),
    );
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    watchErrors(page);
  });

  /** Collects uncaught errors and CSP violations of `p` (every page of every context). */
  function watchErrors(p) {
    p.on("pageerror", (err) => pageErrors.push(`${p.url()}: ${err}`));
    p.on("console", (msg) => {
      if (msg.type() === "error" && /Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
  }

  after(async () => {
    // Always runs: never leave a node or a browser behind.
    await Promise.allSettled([browser?.close(), stopNode(node, "SIGTERM")]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test("signs in from the URL fragment and removes the token from the address bar", async () => {
    await page.goto(`${base}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector(byTestId("screen-overview"), { state: "visible" });
    await waitConn(page, "connected");
    assert.ok(!page.url().includes(TOKEN), `token still in the URL: ${page.url()}`);
    const versionText = await page.textContent(byTestId("node-version"));
    assert.match(versionText ?? "", /\d+\.\d+/);
    const nodeId = await page.textContent(byTestId("node-id"));
    assert.ok((nodeId ?? "").trim().length > 0, "node-id is empty");
  });

  test("navigates through all ten screens", async () => {
    for (const id of ["overview", "agents", "approvals", "calls", "health", "costs", "forecasts", "reports", "fleet", "settings"]) {
      await page.click(byTestId(`nav-${id}`));
      await page.waitForSelector(byTestId(`screen-${id}`), { state: "visible" });
      assert.ok(page.url().endsWith(`#/${id}`), `URL after clicking nav-${id}: ${page.url()}`);
    }
  });

  test("health screen lists the node's dependencies with status, latency and last check", async () => {
    await page.click(byTestId("nav-health"));
    const statuses = new Set(["healthy", "degraded", "unhealthy"]);
    const overall = await page.getAttribute(byTestId("health-overall"), "data-status");
    assert.ok(statuses.has(overall), `health-overall data-status=${overall}`);
    // What the node itself reports: the screen must show the same dependencies and statuses.
    const report = await (await fetch(`${base}/health`)).json();
    const names = report.dependencies.map((d) => d.name).sort();
    assert.deepEqual(names, ["config", "database", "secrets"]);
    for (const dep of report.dependencies) {
      const row = byTestId(`health-row-${dep.name}`);
      const status = await page.getAttribute(row, "data-status");
      assert.ok(statuses.has(status), `health-row-${dep.name} data-status=${status}`);
      // env secrets, no config file, a fresh database: all three are healthy on this node.
      assert.equal(status, "healthy", `health-row-${dep.name}`);
      const latency = (await page.textContent(`${row} td:nth-child(3)`)) ?? "";
      assert.match(latency.trim(), /^\d+(\.\d)? ms$/, `response time of ${dep.name}: ${latency}`);
      const lastCheck = await page.getAttribute(`${row} td:nth-child(4) [title]`, "title");
      assert.ok(lastCheck && lastCheck.length > 0, `last check of ${dep.name} has no timestamp`);
      const ago = (await page.textContent(`${row} td:nth-child(4)`)) ?? "";
      assert.match(ago.trim(), /^(just now|\d+[smhd] ago)$/, `last check of ${dep.name}: ${ago}`);
    }
    // The history: each dependency's first check after the start, from the stored transitions.
    await page.waitForFunction(
      (sel) => document.querySelectorAll(sel).length >= 3,
      byTestId("health-transition"),
      { timeout: 8000 },
    );
    const firsts = await page.$$eval(byTestId("health-transition"), (rows) =>
      rows.map((r) => `${r.getAttribute("data-dependency")}:${r.getAttribute("data-to")}`).sort(),
    );
    for (const dep of ["config", "database", "secrets"]) {
      assert.ok(firsts.includes(`${dep}:healthy`), `history has ${dep}: ${firsts}`);
    }
  });

  test("a detail drawer is a deep link that survives a reload", async () => {
    await page.click(`${byTestId("health-transition")}[data-dependency="database"]`);
    await page.waitForSelector(`${byTestId("transition-drawer")}[open]`, { state: "visible" });
    const url = page.url();
    assert.match(url, /#\/health\/transitions\/\d+$/, url);
    const detail = await page.textContent(byTestId("json-view"));
    assert.match(detail ?? "", /"dependency": "database"/);
    await page.reload();
    await page.waitForSelector(`${byTestId("transition-drawer")}[open]`, { state: "visible" });
    assert.equal(page.url(), url);
    assert.equal(await page.textContent(byTestId("json-view")), detail);
    // Escape closes it, back to the screen's own address.
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => window.location.hash === "#/health");
    await page.waitForSelector(`${byTestId("transition-drawer")}[open]`, { state: "detached" });
  });

  test("the idle dashboard makes no requests: the feed drives refreshes", async () => {
    await page.click(byTestId("nav-overview"));
    await waitConn(page, "connected");
    await sleep(1000);
    const uptime = await readInt(page, "live-uptime");
    const requests = [];
    const onRequest = (r) => requests.push(`${r.method()} ${r.url()}`);
    page.on("request", onRequest);
    await sleep(6000);
    page.off("request", onRequest);
    assert.deepEqual(requests, [], "requests while idle");
    // Meanwhile the live numbers kept moving, over the feed.
    const later = await readInt(page, "live-uptime");
    assert.ok(later >= uptime + 4, `live uptime went from ${uptime} to ${later}`);
  });

  test("overview shows live data from the metrics feed", async () => {
    await page.click(byTestId("nav-overview"));
    await page.waitForSelector(byTestId("live-seq"));
    const seq = await readInt(page, "live-seq");
    const uptime = await readInt(page, "live-uptime");
    const requests = await readInt(page, "live-requests");
    assert.ok(requests >= 1, `live-requests=${requests}: the page itself made requests`);
    // Metrics samples take no seq of their own: the uptime they carry is what moves.
    assert.ok(seq >= 0);
    assert.ok((await waitIntAbove(page, "live-uptime", uptime)) > uptime);
    // Let the sparkline fill a little before the picture.
    await page.waitForFunction(() => document.querySelectorAll(".spark-line").length >= 2, null, { timeout: 8000 });
    await sleep(2500);
    await page.screenshot({ path: path.join(ARTIFACTS, "ui-overview.png"), fullPage: true });
  });

  test("without a token the sign-in form appears; a wrong token is refused", async () => {
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await fresh.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${base}/`, { timeout: UI_TIMEOUT_MS });
      await p.waitForSelector(byTestId("signin-form"), { state: "visible" });
      assert.equal(await connState(p), "unauthorized");
      assert.equal(await p.$(byTestId("screen-overview")), null);

      await p.fill(byTestId("signin-token"), "definitely-not-the-token");
      await p.click(byTestId("signin-submit"));
      await p.waitForSelector(byTestId("signin-error"), { state: "visible" });
      assert.match((await p.textContent(byTestId("signin-error"))) ?? "", /did not accept/i);
      assert.equal(await connState(p), "unauthorized");
      assert.ok(await p.isVisible(byTestId("signin-form")));

      // A wrong token in the fragment lands on the same form, with a reason. (Leave the page
      // first: a fragment-only change would not load it again.)
      await p.goto("about:blank");
      await p.goto(`${base}/#token=wrong-token`, { timeout: UI_TIMEOUT_MS });
      await p.waitForSelector(byTestId("signin-form"), { state: "visible" });
      await p.waitForSelector(byTestId("signin-error"), { state: "visible" });
      assert.equal(await connState(p), "unauthorized");
      assert.ok(!p.url().includes("wrong-token"), `token still in the URL: ${p.url()}`);

      // The right token gets in.
      await p.fill(byTestId("signin-token"), TOKEN);
      await p.click(byTestId("signin-submit"));
      await p.waitForSelector(byTestId("screen-overview"), { state: "visible" });
      await waitConn(p, "connected");
    } finally {
      await fresh.close();
    }
  });

  test("reconnects by itself when the node restarts on the same port", async () => {
    await page.click(byTestId("nav-overview"));
    await waitConn(page, "connected");
    const port = node.port;
    const uptimeBefore = await readInt(page, "live-uptime");

    const { code, signal } = await stopNode(node, "SIGTERM");
    assert.equal(code, 0, `node should exit 0 on SIGTERM (got code ${code}, signal ${signal}):\n${node.output.join("\n")}`);
    await waitConn(page, "reconnecting", 10_000);

    // The port may linger briefly after the old process; retry the bind a few times.
    let lastErr;
    node = null;
    for (let attempt = 0; attempt < 5 && node === null; attempt++) {
      try {
        node = await startNode({ dataDir, listen: `127.0.0.1:${port}` });
      } catch (err) {
        lastErr = err;
        await sleep(1000);
      }
    }
    assert.ok(node, `could not restart the node on port ${port}: ${lastErr}`);
    assert.equal(node.port, port);

    await waitConn(page, "connected", 20_000);
    // The new process's samples arrive: its uptime starts again, then keeps moving.
    await page.waitForFunction(
      ([sel, old]) => Number((document.querySelector(sel)?.textContent ?? "").trim()) < old,
      [byTestId("live-uptime"), uptimeBefore],
      { timeout: 8000 },
    );
    const uptime = await readInt(page, "live-uptime");
    assert.ok((await waitIntAbove(page, "live-uptime", uptime)) > uptime, "samples should keep arriving after the restart");
    await waitConn(page, "connected", 1000);
  });

  test("a rejected config reload raises the banner; a valid one clears it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-config-"));
    const config = path.join(dir, "flightdeck.toml");
    await writeFile(config, '[log]\nlevel = "info"\n');
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      other = await startNode({ dataDir: path.join(dir, "data"), listen: "127.0.0.1:0", config });
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`http://127.0.0.1:${other.port}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-settings"));
      await p.waitForSelector(`${byTestId("config-state")}[data-state="ok"]`);
      assert.equal(await p.$(byTestId("config-banner")), null);

      await writeFile(config, '[log]\nlevel = "info"\nno_such_key = 1\n');
      await p.waitForSelector(byTestId("config-banner"), { state: "visible", timeout: 10_000 });
      assert.match((await p.textContent(byTestId("config-banner"))) ?? "", /no_such_key|unknown/i);

      await writeFile(config, '[log]\nlevel = "debug"\n');
      await p.waitForSelector(byTestId("config-banner"), { state: "detached", timeout: 10_000 });
    } finally {
      await ctx.close();
      await stopNode(other);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the Calls screen shows gateway calls live, and a call's detail", async () => {
    const sp = startScriptedProvider();
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-calls-"));
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const spBase = await sp.base;
      other = await startPricedNode(dir, spBase);
      const nodeBase = `http://127.0.0.1:${other.port}`;
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-calls"));
      await p.waitForSelector(byTestId("screen-calls"), { state: "visible" });
      assert.equal(await p.$$eval(byTestId("call-row"), (rows) => rows.length), 0);

      // A call through the gateway appears without a reload (the `calls` feed topic).
      const script = (steps) =>
        fetch(`${spBase}/_script`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ steps }) });
      await script([{ kind: "reply", text: "hello from e2e", usage: { input: 1000, output: 250 } }]);
      const chat = (content) =>
        fetch(`${nodeBase}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "default", messages: [{ role: "user", content }] }),
        });
      const res = await chat("hi");
      assert.equal(res.status, 200);
      const id = res.headers.get("x-flightdeck-call-id");
      await p.waitForSelector(`${byTestId("call-row")}[data-id="${id}"][data-outcome="ok"]`, { timeout: 10_000 });

      // A failing one too, with its outcome.
      await script([{ kind: "status", status: 400, message: "no such parameter" }]);
      const failed = await chat("bad");
      assert.equal(failed.status, 400);
      const failedId = failed.headers.get("x-flightdeck-call-id");
      await p.waitForSelector(`${byTestId("call-row")}[data-id="${failedId}"][data-outcome="error"]`, { timeout: 10_000 });

      // The detail drawer: tokens and the exact cost (1000 × $2 + 250 × $8 per million).
      await p.click(`${byTestId("call-row")}[data-id="${id}"]`);
      await p.waitForSelector(byTestId("call-drawer"), { state: "visible" });
      assert.ok(p.url().endsWith(`#/calls/${id}`), p.url());
      assert.match((await p.textContent(byTestId("call-outcome"))) ?? "", /ok/);
      assert.match((await p.textContent(byTestId("call-tokens"))) ?? "", /1,?000/);
      assert.match((await p.textContent(byTestId("call-cost"))) ?? "", /0\.004/);
      assert.match((await p.textContent(byTestId("call-hops"))) ?? "", /scripted\/gpt-e2e/);
      // The key of a deep link survives a reload.
      await p.reload();
      await p.waitForSelector(byTestId("call-drawer"), { state: "visible" });
      assert.match((await p.textContent(byTestId("call-cost"))) ?? "", /0\.004/);
    } finally {
      await ctx.close();
      await stopNode(other);
      sp.child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the Costs screen adds up gateway calls; a blocking budget made in the UI refuses a call and shows its bar and alerts", async () => {
    const sp = startScriptedProvider();
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-costs-"));
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const spBase = await sp.base;
      other = await startPricedNode(dir, spBase);
      const nodeBase = `http://127.0.0.1:${other.port}`;
      const script = (steps) =>
        fetch(`${spBase}/_script`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ steps }) });
      const chat = (body) =>
        fetch(`${nodeBase}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "x-flightdeck-tags": "team-e2e" },
          body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }], ...body }),
        });
      // Two calls of 1000 × $2 + 250 × $8 per million = $0.004 each.
      await script([
        { kind: "reply", text: "one", usage: { input: 1000, output: 250 } },
        { kind: "reply", text: "two", usage: { input: 1000, output: 250 } },
      ]);
      assert.equal((await chat({})).status, 200);
      assert.equal((await chat({})).status, 200);
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-costs"));
      await p.waitForSelector(byTestId("screen-costs"), { state: "visible" });
      await p.waitForFunction((sel) => /\$0\.008(?!\d)/.test(document.querySelector(sel)?.textContent ?? ""), byTestId("cost-total"));
      await p.selectOption(byTestId("cost-by"), "model");
      await p.waitForFunction((sel) => /scripted\/gpt-e2e/.test(document.querySelector(sel)?.textContent ?? ""), byTestId("cost-breakdown"));
      await p.selectOption(byTestId("cost-by"), "tag");
      await p.waitForFunction((sel) => /team-e2e/.test(document.querySelector(sel)?.textContent ?? ""), byTestId("cost-breakdown"));
      assert.ok((await p.$$(byTestId("cost-bar"))).length >= 1);

      // A blocking budget of $0.01 a day, made here: 80 % is spent already.
      await p.click(byTestId("budget-new"));
      await p.fill(byTestId("budget-name"), "e2e");
      await p.fill(byTestId("budget-limit"), "0.01");
      await p.selectOption(byTestId("budget-period"), "daily");
      await p.selectOption(byTestId("budget-action"), "block");
      await p.click(byTestId("budget-save"));
      const item = `${byTestId("budget")}[data-name="e2e"]`;
      await p.waitForSelector(item, { timeout: 10_000 });
      assert.match((await p.textContent(`${item} ${byTestId("budget-figures")}`)) ?? "", /\$0\.008 of \$0\.01/);
      assert.match(await readFile(path.join(dir, "flightdeck.toml"), "utf8"), /\[budgets\.e2e\]/);
      // A call that could cost more than what is left is refused before the provider.
      await script([{ kind: "reply", text: "three", usage: { input: 1000, output: 250 } }]);
      const refused = await chat({ max_tokens: 1000 });
      assert.equal(refused.status, 429);
      assert.equal((await refused.json()).error.code, "budget_exceeded");
      // The alerts arrive live: 50 %, 80 % and the refusal.
      await p.waitForFunction((sel) => document.querySelectorAll(sel).length >= 3, byTestId("budget-alert"), { timeout: 10_000 });
      assert.match((await p.textContent(byTestId("budget-alerts"))) ?? "", /refused a call/);
      // A bad limit is refused in the form, with a reason.
      await p.click(byTestId("budget-new"));
      await p.fill(byTestId("budget-name"), "bad");
      await p.fill(byTestId("budget-limit"), "-5");
      await p.click(byTestId("budget-save"));
      await p.waitForSelector(byTestId("budget-error"));
    } finally {
      await ctx.close();
      await stopNode(other);
      sp.child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a billing export uploaded on the Costs screen is set beside the ledger: a drifted day in the chart and the table; the same file again and a bad row are refused with the node's message", async () => {
    const sp = startScriptedProvider();
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-rec-"));
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const spBase = await sp.base;
      other = await startPricedNode(dir, spBase);
      const nodeBase = `http://127.0.0.1:${other.port}`;
      // Two calls of $0.004 each: the ledger has $0.008 today (UTC).
      await fetch(`${spBase}/_script`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          steps: [
            { kind: "reply", text: "one", usage: { input: 1000, output: 250 } },
            { kind: "reply", text: "two", usage: { input: 1000, output: 250 } },
          ],
        }),
      });
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${nodeBase}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }] }),
        });
        assert.equal(res.status, 200);
      }
      const today = new Date().toISOString().slice(0, 10);
      // The provider bills $5 for them: far from the ledger, so the day drifts.
      const bill = path.join(dir, "bill.csv");
      await writeFile(bill, `date,provider,model,cost_usd\n${today},scripted,gpt-e2e,5.00\n`);
      const bad = path.join(dir, "bad.csv");
      await writeFile(bad, `date,provider,model,cost_usd\n${today},scripted,gpt-e2e,1.00\n${today},scripted,gpt-e2e,lots\n`);

      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-costs"));
      await p.waitForSelector(byTestId("screen-costs"), { state: "visible" });

      // Upload: the new reconciliation is selected, its day drawn as drifted and labelled so.
      await p.setInputFiles(byTestId("rec-file"), bill);
      await p.click(byTestId("rec-import"));
      const drifted = `${byTestId("rec-chart")} ${byTestId("rec-chart-day")}[data-day="${today}"][data-drift="true"]`;
      await p.waitForSelector(drifted, { timeout: 10_000 });
      assert.match((await p.textContent(drifted)) ?? "", /drift|!/);
      assert.equal(await p.getAttribute(byTestId("rec-chart"), "role"), "img");
      const label = (await p.getAttribute(byTestId("rec-chart"), "aria-label")) ?? "";
      assert.match(label, new RegExp(`1 day drifted .*${today}`));
      const bars = await p.$$eval(`${drifted} rect title`, (ts) => ts.map((t) => t.textContent ?? ""));
      assert.ok(bars.some((t) => /billed \$5\.00/.test(t)), JSON.stringify(bars));
      assert.ok(bars.some((t) => /ledger \$0\.008(?!\d)/.test(t)), JSON.stringify(bars));
      const line = `${byTestId("rec-line")}[data-drift="true"]`;
      await p.waitForSelector(line);
      const lineText = (await p.textContent(line)) ?? "";
      assert.match(lineText, new RegExp(today));
      assert.match(lineText, /gpt-e2e/);
      assert.match(lineText, /\$5\.00/);
      assert.match(lineText, /\$0\.008(?!\d)/);
      assert.match(lineText, /drift/);
      const row = `${byTestId("rec-row")}`;
      await p.waitForFunction((sel) => /bill\.csv[\s\S]*1 drifted day/.test(document.querySelector(sel)?.textContent ?? ""), row);
      const id = await p.getAttribute(row, "data-id");
      assert.match(id ?? "", /\S/);

      // The same file again: refused, the node's message (naming the first import) beside the form.
      await p.setInputFiles(byTestId("rec-file"), bill);
      await p.click(byTestId("rec-import"));
      await p.waitForSelector(`${byTestId("rec-error")}[data-code="conflict"]`);
      const conflict = (await p.textContent(byTestId("rec-error"))) ?? "";
      assert.match(conflict, /imported already/);
      assert.ok(conflict.includes(id), `${conflict} should name ${id}`);

      // A bad row: the message names its line, and nothing was imported.
      await p.setInputFiles(byTestId("rec-file"), bad);
      await p.click(byTestId("rec-import"));
      await p.waitForSelector(`${byTestId("rec-error")}[data-code="invalid_rows"]`);
      assert.match((await p.textContent(byTestId("rec-error"))) ?? "", /line 3: `lots` is not an amount/);
      assert.equal((await p.$$(byTestId("rec-row"))).length, 1);
    } finally {
      await ctx.close();
      await stopNode(other);
      sp.child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a task enqueued in the UI goes live through its states to done, with its call on the timeline", async () => {
    const sp = startScriptedProvider();
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-tasks-"));
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const spBase = await sp.base;
      const config = path.join(dir, "flightdeck.toml");
      await writeFile(
        config,
        `[providers.scripted]\nkind = "openai"\nbase_url = "${spBase}/v1"\nlocal = false\n\n` +
          `[routes.default]\nchain = ["scripted/gpt-e2e"]\n\n` +
          `[prices."scripted/gpt-e2e"]\ninput = 2\noutput = 8\n\n` +
          `[agents.greeter]\nroute = "default"\nprompt = "Greet {{ name }}"\n` +
          `output_schema = { type = "object", properties = { greeting = { type = "string" } }, required = ["greeting"] }\n\n` +
          `[agents.welcomer]\nroute = "default"\nprompt = "Welcome {{ name }}"\n` +
          `output_schema = { type = "object", properties = { greeting = { type = "string" } }, required = ["greeting"] }\n\n` +
          `[runs.both]\nagents = ["greeter", "welcomer"]\n`,
      );
      other = await startNode({ dataDir: path.join(dir, "data"), listen: "127.0.0.1:0", config });
      const nodeBase = `http://127.0.0.1:${other.port}`;
      // A slow answer, so the running state is seen on the way.
      await fetch(`${spBase}/_script`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ steps: [{ kind: "reply", text: '{"greeting": "Hello Ada"}', latency_ms: 1500 }] }),
      });
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-agents"));
      await p.waitForSelector(`${byTestId("agent-item")}[data-name="greeter"]`, { state: "visible" });
      await p.fill(byTestId("enqueue-input"), '{"name": "Ada"}');
      await p.click(byTestId("enqueue-submit"));
      // The drawer follows the task live: running, then succeeded (feed events, no reload).
      await p.waitForSelector(byTestId("task-drawer"), { state: "visible" });
      await p.waitForSelector(`${byTestId("task-detail")}[data-state="running"]`, { timeout: 10_000 });
      await p.waitForSelector(`${byTestId("task-detail")}[data-state="succeeded"]`, { timeout: 10_000 });
      assert.match((await p.textContent(byTestId("task-result"))) ?? "", /Hello Ada/);
      assert.match((await p.textContent(byTestId("timeline-call"))) ?? "", /scripted\/gpt-e2e/);
      assert.equal(await p.$$eval(`${byTestId("timeline-step")}[data-kind="model"]`, (s) => s.length), 1);
      const id = /#\/agents\/tasks\/([\w-]+)/.exec(p.url())?.[1];
      assert.ok(id, p.url());
      await p.waitForSelector(`${byTestId("task-row")}[data-id="${id}"][data-state="succeeded"]`);
      // The task's call is in the ledger under the agent's name.
      const calls = await (
        await fetch(`${nodeBase}/api/v1/calls?task_id=${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json();
      assert.equal(calls.items.length, 1);
      assert.equal(calls.items[0].client, "agent:greeter");

      // The agent's drawer (a deep link): its template history and a live preview.
      await p.evaluate(() => {
        window.location.hash = "#/agents/agent/greeter";
      });
      await p.waitForSelector(byTestId("agent-drawer"), { state: "visible" });
      await p.waitForSelector(`${byTestId("template-version")}[data-version="1"]`);
      // Its figures: the task that succeeded, and what its call cost ($2/M in, $8/M out).
      await p.waitForFunction(() => document.querySelector('[data-testid="agent-stats-success"]')?.textContent?.includes("100.0 %"));
      assert.match((await p.textContent(byTestId("agent-stats-tasks"))) ?? "", /^1 · 1 succeeded/);
      assert.match((await p.textContent(byTestId("agent-stats-cost"))) ?? "", /per task/);
      await p.fill(byTestId("preview-input"), '{"name": "Grace"}');
      await p.waitForFunction(() => document.querySelector('[data-testid="preview-output"]')?.textContent?.includes("Greet Grace"));
      await p.fill(byTestId("preview-input"), '{"nom": "Grace"}');
      await p.waitForSelector(byTestId("preview-error"));
      assert.match((await p.textContent(byTestId("preview-error"))) ?? "", /`name`/);
      // Edited and saved from the UI: written to the config file, a new version recorded.
      await p.fill(byTestId("preview-input"), '{"name": "Grace"}');
      await p.fill(byTestId("preview-prompt"), "Warmly greet {{ name }}");
      await p.waitForFunction(() => document.querySelector('[data-testid="preview-output"]')?.textContent?.includes("Warmly greet Grace"));
      await p.click(byTestId("template-save"));
      await p.waitForSelector(`${byTestId("template-version")}[data-version="2"]`);
      assert.match(await readFile(config, "utf8"), /prompt = "Warmly greet \{\{ name \}\}"/);

      // A multi-agent run from the UI: a dry run shows the plan, then the run goes live to a
      // majority vote, its DAG showing each step.
      await fetch(`${spBase}/_script`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          steps: [
            { kind: "reply", text: '{"greeting": "Hello Ada"}', latency_ms: 300 },
            { kind: "reply", text: '{"greeting": "Hello Ada"}', latency_ms: 300 },
          ],
        }),
      });
      await p.evaluate(() => {
        window.location.hash = "#/agents";
      });
      await p.fill(byTestId("run-definition"), JSON.stringify({ agents: ["greeter", "welcomer"], aggregate: { mode: "vote", field: "greeting" } }));
      await p.fill(byTestId("run-input"), '{"name": "Ada"}');
      await p.click(byTestId("run-plan-button"));
      await p.waitForSelector(byTestId("run-plan"));
      assert.equal(await p.$$eval(byTestId("plan-step"), (s) => s.length), 2);
      assert.match((await p.textContent(byTestId("plan-summary"))) ?? "", /2 to \d+ model calls/);
      await p.click(byTestId("run-start"));
      await p.waitForSelector(byTestId("run-drawer"), { state: "visible" });
      await p.waitForSelector(`${byTestId("run-detail")}[data-state="succeeded"]`, { timeout: 10_000 });
      assert.equal(await p.$$eval(`${byTestId("run-step")}[data-state="succeeded"]`, (s) => s.length), 2);
      assert.match((await p.textContent(byTestId("run-result"))) ?? "", /Hello Ada/);
      assert.match((await p.textContent(byTestId("run-decided-by"))) ?? "", /greeter, welcomer/);
      const runId = /#\/agents\/runs\/([\w-]+)/.exec(p.url())?.[1];
      assert.ok(runId, p.url());
      await p.waitForSelector(`${byTestId("run-row")}[data-id="${runId}"][data-state="succeeded"]`);
      // A step opens its task's timeline.
      await p.click(`${byTestId("run-step")}[data-step="welcomer"] ${byTestId("run-step-task")}`);
      await p.waitForSelector(`${byTestId("task-detail")}[data-state="succeeded"]`);
      // A run of the config, chosen by name: its definition shows, and a dry run plans it.
      await p.evaluate(() => {
        window.location.hash = "#/agents";
      });
      await p.selectOption(byTestId("run-named"), "both");
      await p.waitForSelector(byTestId("run-named-definition"));
      await p.click(byTestId("run-plan-button"));
      // Its plan (aggregate `all`), where the one before was a vote.
      await p.waitForFunction(() => document.querySelector('[data-testid="plan-summary"]')?.textContent?.includes("aggregate all of greeter, welcomer"));
      await p.selectOption(byTestId("run-named"), "");
      // An invalid definition is refused with its reason, and nothing starts.
      await p.evaluate(() => {
        window.location.hash = "#/agents";
      });
      await p.fill(byTestId("run-definition"), JSON.stringify({ agents: ["ghost"] }));
      await p.click(byTestId("run-start"));
      await p.waitForSelector(byTestId("run-problem"));
      assert.match((await p.textContent(byTestId("run-problem"))) ?? "", /ghost/);
    } finally {
      await ctx.close();
      await stopNode(other);
      sp.child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("an agent's high-risk proposal is approved in the inbox: one signed webhook with the step's key; another is rejected with a reason the agent gets", async () => {
    const sp = startScriptedProvider();
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-approvals-"));
    const deliveries = [];
    const hook = createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"refund_id": "rf_9"}');
      });
    });
    await new Promise((r) => hook.listen(0, "127.0.0.1", r));
    const hookUrl = `http://127.0.0.1:${hook.address().port}/refund`;
    const HOOK_KEY = "whsec-e2e-" + randomBytes(8).toString("hex");
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const spBase = await sp.base;
      const config = path.join(dir, "flightdeck.toml");
      await writeFile(
        config,
        `[providers.scripted]\nkind = "openai"\nbase_url = "${spBase}/v1"\nlocal = false\n\n` +
          `[routes.default]\nchain = ["scripted/gpt-e2e"]\n\n` +
          `[actions.refund]\ndescription = "Refund a customer's payment"\nrisk = "high"\nexecutor = "webhook"\n` +
          `url = "${hookUrl}"\nsecret = "webhook:refunds"\n` +
          `schema = { type = "object", properties = { amount = { type = "number" }, customer = { type = "string" } }, required = ["amount", "customer"] }\n\n` +
          `[[policies]]\nname = "refunds need a human"\naction = "refund"\ndecision = "require_approval"\nsla = "1h"\n\n` +
          `[agents.billing]\nroute = "default"\nprompt = "Handle {{ ticket }}"\ntools = ["refund"]\n`,
      );
      other = await startNode({
        dataDir: path.join(dir, "data"),
        listen: "127.0.0.1:0",
        config,
        env: { FLIGHTDECK_SECRET_WEBHOOK_REFUNDS: HOOK_KEY },
      });
      const nodeBase = `http://127.0.0.1:${other.port}`;
      const api = (method, p, body) =>
        fetch(`${nodeBase}${p}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }).then((r) => r.json());
      // Each request: the model proposes a refund, then answers once it has the tool result.
      const proposal = (amount) => ({
        kind: "reply",
        text: `Customer charged twice; refunding ${amount}.`,
        tool_calls: [{ name: "refund", arguments: JSON.stringify({ amount, customer: "c-42" }) }],
        after_tool_result: "handled",
      });
      await fetch(`${spBase}/_script`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ steps: [proposal(900), proposal(900), proposal(40), proposal(40)] }),
      });
      const first = await api("POST", "/api/v1/tasks", { agent: "billing", input: { ticket: "T-1" } });
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-approvals"));
      // The request arrives live: the badge and the inbox row.
      await p.waitForFunction(() => document.querySelector('[data-testid="approvals-badge"]')?.textContent === "1");
      await p.waitForSelector(`${byTestId("approval-row")}[data-risk="high"][data-state="pending"]`);
      await p.click(byTestId("approval-row"));
      await p.waitForSelector(byTestId("approval-drawer"), { state: "visible" });
      assert.equal(await p.textContent(byTestId("approval-tool")), "refund");
      assert.match((await p.textContent(byTestId("approval-description"))) ?? "", /Refund a customer/);
      assert.match((await p.textContent(byTestId("approval-rationale"))) ?? "", /charged twice/);
      assert.match((await p.textContent(byTestId("approval-rule"))) ?? "", /refunds need a human/);
      assert.match((await p.textContent(byTestId("sla"))) ?? "", /left/);
      assert.equal(deliveries.length, 0, "nothing is sent before the decision");
      await p.click(byTestId("approve"));
      await p.waitForSelector(`${byTestId("approval-detail")}[data-state="approved"]`);
      // The task resumes and finishes; exactly one signed delivery with the step's key.
      for (let i = 0; i < 100 && (await api("GET", `/api/v1/tasks/${first.id}`)).state !== "succeeded"; i++) await sleep(100);
      assert.equal((await api("GET", `/api/v1/tasks/${first.id}`)).state, "succeeded");
      assert.equal(deliveries.length, 1, JSON.stringify(deliveries));
      const { headers, body } = deliveries[0];
      const ts = headers["x-flightdeck-timestamp"];
      const want = "sha256=" + createHmac("sha256", HOOK_KEY).update(`${ts}.${body}`).digest("hex");
      assert.equal(headers["x-flightdeck-signature"], want);
      assert.match(headers["idempotency-key"], new RegExp(`^${first.id}:0:\\d+$`));
      assert.deepEqual(JSON.parse(body).arguments, { amount: 900, customer: "c-42" });
      await p.keyboard.press("Escape");

      // A second one, rejected from the keyboard (r, then the reason): the agent gets it.
      const second = await api("POST", "/api/v1/tasks", { agent: "billing", input: { ticket: "T-2" } });
      await p.waitForSelector(`${byTestId("approval-row")}[data-state="pending"]`);
      await p.waitForFunction(() => document.querySelector('[data-testid="approvals-badge"]')?.textContent === "1");
      await p.keyboard.press("r");
      await p.waitForSelector(byTestId("reject-reason"));
      await p.fill(byTestId("reject-reason"), "refund only the duplicate charge");
      await p.click(byTestId("reject-confirm"));
      await p.waitForSelector(`${byTestId("approval-detail")}[data-state="rejected"]`);
      for (let i = 0; i < 100 && (await api("GET", `/api/v1/tasks/${second.id}`)).state !== "succeeded"; i++) await sleep(100);
      const t2 = await api("GET", `/api/v1/tasks/${second.id}`);
      const toolStep = t2.steps.find((s) => s.kind === "tool");
      assert.match(toolStep.message.content[0].text, /refund only the duplicate charge/);
      assert.equal(deliveries.length, 1, "nothing sent for the rejected one");
      await p.keyboard.press("Escape");
      await p.waitForFunction(() => !document.querySelector('[data-testid="approvals-badge"]'));

      // The audit trail verifies, and the policies explain themselves.
      await p.click(byTestId("tab-audit"));
      await p.click(byTestId("audit-verify"));
      await p.waitForSelector(`${byTestId("audit-verification")}[data-ok="true"]`);
      assert.ok((await p.$$(byTestId("audit-row"))).length >= 5);
      await p.click(byTestId("tab-policies"));
      await p.fill(byTestId("explain-arguments"), '{"amount": 5, "customer": "x"}');
      await p.fill(byTestId("explain-agent"), "billing");
      await p.click(byTestId("explain-submit"));
      await p.waitForSelector(`${byTestId("explain-result")}[data-outcome="pending"]`);
      assert.match((await p.textContent(byTestId("explain-result"))) ?? "", /refunds need a human/);
    } finally {
      await ctx.close();
      await stopNode(other);
      sp.child.kill("SIGTERM");
      hook.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the Forecasts screen: a CSV imported through the dialog (preview, then import) is forecast with its model; a spike pushed through the API shows as an anomaly live; a goal set in the UI shows its probability", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-forecasts-"));
    const config = path.join(dir, "flightdeck.toml");
    await writeFile(config, `[health_score.orders]\ntarget = 300\n`);
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      other = await startNode({ dataDir: path.join(dir, "data"), listen: "127.0.0.1:0", config });
      const nodeBase = `http://127.0.0.1:${other.port}`;
      const api = (method, p, body) =>
        fetch(`${nodeBase}${p}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      // 90 days of orders up to yesterday (UTC): a weekly cycle on a slow trend, a little noise.
      const DAY = 86_400_000;
      const now = new Date();
      const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
      const day = (t) => new Date(t).toISOString().slice(0, 10);
      const values = Array.from({ length: 90 }, (_, k) => 200 + k * 0.8 + 25 * Math.sin((2 * Math.PI * k) / 7) + (((k * 37) % 11) - 5) * 1.5);
      const csv = `date,value\n${values.map((v, k) => `${day(today - (90 - k) * DAY)},${v.toFixed(2)}`).join("\n")}\n`;
      const file = path.join(dir, "orders.csv");
      await writeFile(file, csv);

      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-forecasts"));
      await p.waitForSelector(byTestId("screen-forecasts"), { state: "visible" });
      // The built-in daily spend: no calls on this node, so too short to forecast, and said so.
      await p.waitForSelector(`${byTestId("series-row")}[data-name="cost.daily"]`);
      assert.match((await p.textContent(`${byTestId("series-row")}[data-name="cost.daily"]`)) ?? "", /built-in/);
      await p.waitForSelector(byTestId("forecast-too-short"));
      assert.match((await p.textContent(byTestId("forecast-too-short"))) ?? "", /a forecast needs at least 3/);

      // A bad row is refused with its line number, and nothing is imported.
      await p.click(byTestId("import-open"));
      await p.waitForSelector(`${byTestId("import-dialog")}[open]`);
      await p.fill(byTestId("import-name"), "orders");
      await p.fill(byTestId("import-csv"), "date,value\n2026-01-01,1\n2026-01-02,lots\n");
      await p.click(byTestId("import-preview-button"));
      await p.waitForSelector(`${byTestId("import-error")}[data-code="invalid_rows"]`);
      assert.match((await p.textContent(byTestId("import-bad-rows"))) ?? "", /line 3: `lots`/);
      assert.ok(await p.isDisabled(byTestId("import-confirm")), "no import without a preview");

      // The file: a preview first (nothing imported yet), then the import.
      await p.setInputFiles(byTestId("import-file"), file);
      await p.waitForFunction((sel) => (document.querySelector(sel)?.value ?? "").split("\n").length > 90, byTestId("import-csv"));
      await p.fill(byTestId("import-unit"), "orders");
      await p.click(byTestId("import-preview-button"));
      await p.waitForSelector(byTestId("import-preview"));
      assert.equal((await p.textContent(byTestId("import-preview-points")))?.trim(), "90");
      assert.equal((await p.textContent(byTestId("import-preview-frequency")))?.trim(), "daily");
      assert.match((await p.textContent(byTestId("import-preview"))) ?? "", new RegExp(day(today - 90 * DAY)));
      const before = await api("GET", "/api/v1/series");
      assert.ok(!before.body.items.some((s) => s.name === "orders"), "a preview imports nothing");
      await p.click(byTestId("import-confirm"));
      await p.waitForFunction((sel) => document.querySelector(sel)?.open === false, byTestId("import-dialog"));
      await p.waitForFunction(() => window.location.hash === "#/forecasts/orders");
      const after = await api("GET", "/api/v1/series");
      assert.equal(after.body.items.find((s) => s.name === "orders")?.points, 90);

      // Its forecast: the chart (an image saying what it shows) and the model chosen, with why.
      const chart = `${byTestId("forecast-chart")}[data-series="orders"]`;
      await p.waitForSelector(chart, { timeout: 20_000 });
      assert.equal(await p.getAttribute(chart, "role"), "img");
      assert.match((await p.getAttribute(chart, "aria-label")) ?? "", /^orders: 90 recent daily points .*; forecast 30 days ahead with \S/);
      for (const part of ["forecast-history", "forecast-mean", "forecast-band80", "forecast-band95"]) {
        assert.match((await p.getAttribute(byTestId(part), "d")) ?? "", /^M/, part);
      }
      const model = ((await p.textContent(byTestId("forecast-model"))) ?? "").trim();
      assert.ok(model.length > 0, "a model is named");
      assert.match((await p.textContent(byTestId("forecast-reason"))) ?? "", /MASE/);
      assert.ok((await p.$$(byTestId("forecast-candidate"))).length >= 3);
      const chosen = await p.$$eval(`${byTestId("forecast-candidate")}[data-chosen="true"]`, (rows) => rows.map((r) => r.querySelector("td")?.textContent ?? ""));
      assert.equal(chosen.length, 1);
      assert.ok(chosen[0].startsWith(model), `${chosen[0]} should be ${model}`);
      assert.equal((await p.$$(byTestId("forecast-coverage"))).length, 2);
      // The readout follows the keyboard.
      await p.focus(byTestId("forecast-plot"));
      await p.keyboard.press("ArrowRight");
      assert.match((await p.textContent(byTestId("forecast-readout"))) ?? "", new RegExp(`${day(today)}.*forecast`));
      await p.screenshot({ path: path.join(ARTIFACTS, "ui-forecasts.png"), fullPage: true });

      // A spike pushed through the API, checked against the forecast made before it: flagged,
      // and it shows live (the anomalies table, the chart's marker, a toast).
      const spike = Math.round(values[89] * 1.6);
      const pushed = await api("POST", "/api/v1/series/orders/points", { points: [{ ds: `${day(today)}T00:00:00Z`, value: spike }] });
      assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
      assert.equal(pushed.body.anomalies.length, 1, JSON.stringify(pushed.body));
      await p.waitForSelector(`${byTestId("anomaly-row")}[data-source="forecast"]`, { timeout: 10_000 });
      assert.match((await p.textContent(`${byTestId("anomaly-row")}[data-source="forecast"]`)) ?? "", new RegExp(day(today)));
      await p.waitForFunction(() => [...document.querySelectorAll('[data-testid="toast"]')].some((t) => /Anomaly in orders/.test(t.textContent ?? "")));
      await p.waitForSelector(`${byTestId("forecast-anomaly")}[data-source="forecast"]`, { timeout: 10_000 });
      await p.waitForFunction(
        () => Number(document.querySelector('[data-testid="series-row"][data-name="orders"] [data-testid="series-anomalies"]')?.textContent ?? "0") >= 1,
      );

      // A goal set in the UI: its probability, as the node computed it.
      await p.click(byTestId("goal-new"));
      await p.fill(byTestId("goal-name"), "orders-target");
      await p.selectOption(byTestId("goal-series"), "orders");
      await p.fill(byTestId("goal-target"), "280");
      await p.fill(byTestId("goal-due"), day(today + 21 * DAY));
      await p.click(byTestId("goal-save"));
      const goal = `${byTestId("goal")}[data-name="orders-target"]`;
      await p.waitForSelector(goal, { timeout: 10_000 });
      const shown = ((await p.textContent(`${goal} ${byTestId("goal-probability")}`)) ?? "").replace(/\u00a0/g, " ");
      const m = /Probability\s*(<1|>99|\d{1,3}) %/.exec(shown);
      assert.ok(m, `goal probability: ${shown}`);
      const goals = await api("GET", "/api/v1/goals");
      const g = goals.body.items.find((x) => x.name === "orders-target");
      assert.ok(g && typeof g.probability === "number", JSON.stringify(goals.body));
      if (/^\d/.test(m[1])) assert.ok(Math.abs(Number(m[1]) - g.probability * 100) <= 1, `${m[1]} % against ${g.probability}`);
      assert.equal(g.due, `${day(today + 21 * DAY)}T00:00:00Z`);
      assert.match((await p.textContent(`${goal} ${byTestId("goal-expected")}`)) ?? "", /≈ \S+/);

      // The health score of [health_score.orders], now that orders has data.
      await p.waitForFunction(() => /\d/.test(document.querySelector('[data-testid="health-score-value"]')?.textContent ?? ""));
      assert.match((await p.textContent(byTestId("health-score-kpis"))) ?? "", /orders/);
    } finally {
      await ctx.close();
      await stopNode(other);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the Reports screen: a weekly report generated in the UI is listed; its HTML opened from a file makes no request but itself and draws its charts; its PDF is a PDF; a webhook that refuses it is a failed delivery, shown in the list and alerted, and it is delivered again", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flightdeck-e2e-reports-"));
    // The reports webhook: refuses while `hookStatus` is 500.
    let hookStatus = 200;
    const hooked = [];
    const hook = createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        hooked.push({ status: hookStatus, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(hookStatus, { "content-type": "text/plain" });
        res.end(hookStatus === 200 ? "ok" : "the hook is down");
      });
    });
    await new Promise((r) => hook.listen(0, "127.0.0.1", r));
    const config = path.join(dir, "flightdeck.toml");
    await writeFile(config, `[reports]\nwebhook = "http://127.0.0.1:${hook.address().port}/reports"\nmax_attempts = 1\n`);
    let other;
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    let fileCtx;
    try {
      other = await startNode({ dataDir: path.join(dir, "data"), listen: "127.0.0.1:0", config });
      const nodeBase = `http://127.0.0.1:${other.port}`;
      const raw = (p) => fetch(`${nodeBase}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      // A KPI series, so the report has a chart (its forecast); this node has no spend.
      const dayOf = (t) => new Date(t).toISOString().slice(0, 10);
      const csv = `date,value\n${Array.from({ length: 60 }, (_, k) => `${dayOf(Date.now() - (60 - k) * 86_400_000)},${(200 + 20 * Math.sin((2 * Math.PI * k) / 7)).toFixed(2)}`).join("\n")}\n`;
      const imported = await fetch(`${nodeBase}/api/v1/series/orders/import`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ csv }),
      });
      assert.equal(imported.status, 201, await imported.text());
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      await p.goto(`${nodeBase}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-reports"));
      await p.waitForSelector(byTestId("screen-reports"), { state: "visible" });
      assert.ok(p.url().endsWith("#/reports"), p.url());

      // The schedule, read-only: off, the webhook configured, so delivery can be asked for.
      await p.waitForSelector(`${byTestId("report-schedule")}[data-schedule="off"]`);
      assert.equal((await p.textContent(byTestId("report-schedule-text")))?.trim(), "Off");
      assert.equal((await p.textContent(byTestId("report-webhook")))?.trim(), "yes");
      assert.match((await p.textContent(byTestId("report-folder"))) ?? "", /reports/);
      assert.ok(!(await p.isDisabled(byTestId("report-deliver"))), "the webhook is configured: delivery can be asked for");
      await p.waitForFunction((sel) => /No report yet/.test(document.querySelector(sel)?.textContent ?? ""), byTestId("report-list"));

      // Generate last week's report (HTML and PDF, the configured formats), not delivered.
      assert.ok(await p.isChecked(byTestId("report-period-week")));
      assert.ok(await p.isChecked(byTestId("report-format-html")));
      assert.ok(await p.isChecked(byTestId("report-format-pdf")));
      await p.click(byTestId("report-generate"));
      await p.waitForSelector(byTestId("report-made"), { timeout: 90_000 });
      const id = await p.getAttribute(byTestId("report-made"), "data-id");
      assert.match(id ?? "", /^rep_/);
      const row = `${byTestId("report-row")}[data-id="${id}"]`;
      await p.waitForSelector(`${row}[data-fresh="true"]`);
      const title = ((await p.textContent(`${row} ${byTestId("report-title")}`)) ?? "").trim();
      assert.match(title, /^Flightdeck weekly report/);
      assert.match((await p.textContent(row)) ?? "", /Week[\s\S]*manual[\s\S]*not delivered/);
      assert.ok(Number((await p.textContent(`${row} ${byTestId("report-pages")}`)) ?? "0") >= 1, "the PDF has pages");
      assert.ok(await p.isVisible(`${row} ${byTestId("report-download-html")}`));
      assert.ok(await p.isVisible(`${row} ${byTestId("report-download-pdf")}`));
      const listed = await (await raw("/api/v1/reports")).json();
      assert.equal(listed.items[0]?.id, id, JSON.stringify(listed));
      assert.equal(listed.items[0]?.title, title);
      await p.screenshot({ path: path.join(ARTIFACTS, "ui-reports.png"), fullPage: true });

      // Opened from the UI: a new tab (opened in the click, then given the file) with the
      // report, styled: a blob: page is under the dashboard's CSP too, which allows the
      // report's stylesheet by its hash.
      const [tab] = await Promise.all([p.context().waitForEvent("page"), p.click(`${row} ${byTestId("report-open-html")}`)]);
      await tab.waitForURL(/^blob:/);
      await tab.waitForLoadState();
      assert.equal(await tab.title(), title);
      assert.equal(await tab.evaluate(() => getComputedStyle(document.body).maxWidth), "992px");
      assert.equal(await tab.evaluate(() => window.opener), null);
      await tab.close();
      assert.equal(await p.locator(byTestId("report-file-error")).count(), 0);

      // Its HTML, saved to a file and opened in a fresh browser context: the only request is
      // the file itself (the charts are data: PNGs; the CSP forbids the rest), and it draws.
      const html = await raw(`/api/v1/reports/${id}/html`);
      assert.equal(html.status, 200);
      assert.match(html.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(html.headers.get("content-disposition") ?? "", /^attachment/);
      const file = path.join(dir, "report.html");
      await writeFile(file, await html.text());
      const fileUrl = `file://${file}`;
      fileCtx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const rp = await fileCtx.newPage();
      watchErrors(rp);
      const requested = [];
      rp.on("request", (r) => requested.push(r.url()));
      await rp.goto(fileUrl, { waitUntil: "load", timeout: UI_TIMEOUT_MS });
      assert.deepEqual(requested, [fileUrl]);
      assert.equal(await rp.title(), title);
      assert.ok(((await rp.textContent("body")) ?? "").includes(title), "the page shows the title");
      const images = await rp.$$eval("img", (imgs) => imgs.map((i) => ({ src: i.getAttribute("src")?.slice(0, 22) ?? "", w: i.naturalWidth, done: i.complete })));
      assert.ok(images.length >= 1, "the report has charts");
      assert.ok(images.every((i) => i.src.startsWith("data:image/png")), JSON.stringify(images));
      assert.ok(images.some((i) => i.done && i.w > 0), `a chart is drawn: ${JSON.stringify(images)}`);
      await rp.screenshot({ path: path.join(ARTIFACTS, "report-html.png"), fullPage: true });
      assert.deepEqual(requested, [fileUrl], "nothing more was requested after the load");

      // Its PDF.
      const pdf = await raw(`/api/v1/reports/${id}/pdf`);
      assert.equal(pdf.status, 200);
      assert.equal(pdf.headers.get("content-type"), "application/pdf");
      const bytes = Buffer.from(await pdf.arrayBuffer());
      assert.equal(bytes.subarray(0, 5).toString("latin1"), "%PDF-");

      // A day's report delivered to a webhook that refuses it: made and kept, the delivery
      // failed with the hook's answer — in the form, on the report in the list, and as an alert.
      hookStatus = 500;
      await p.click(byTestId("report-period-day"));
      await p.check(byTestId("report-deliver"));
      await p.click(byTestId("report-generate"));
      await p.waitForSelector(`${byTestId("report-error")}[data-code="delivery_failed"]`, { timeout: 90_000 });
      assert.ok(await p.isVisible(byTestId("report-kept")));
      const failedRow = `${byTestId("report-row")}[data-fresh="true"][data-failed="true"]`;
      await p.waitForSelector(failedRow, { timeout: 10_000 });
      const keptId = await p.getAttribute(failedRow, "data-id");
      assert.notEqual(keptId, id);
      assert.match((await p.textContent(`${failedRow} ${byTestId("report-title")}`)) ?? "", /^Flightdeck daily report/);
      assert.equal(await p.getAttribute(`${failedRow} ${byTestId("report-delivery")}`, "data-channel"), "webhook");
      assert.equal(await p.getAttribute(`${failedRow} ${byTestId("report-delivery")}`, "data-state"), "failed");
      assert.match((await p.textContent(`${failedRow} ${byTestId("report-delivery-error")}`)) ?? "", /500/);
      // Beside the form: which report was kept, and the hook's answer.
      await p.waitForSelector(`${byTestId("report-kept-detail")}[data-id="${keptId}"]`);
      assert.match((await p.textContent(byTestId("report-kept-detail"))) ?? "", /Flightdeck daily report[\s\S]*webhook: [\s\S]*500/);
      await p.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid="toast"][role="alert"]')].some((t) => /webhook delivery of a report failed/.test(t.textContent ?? "")),
      );
      assert.ok(hooked.some((h) => h.status === 500 && JSON.parse(h.body).id === keptId), "the hook was tried");
      await p.screenshot({ path: path.join(ARTIFACTS, "ui-reports-delivery-failed.png"), fullPage: true });

      // The hook is back: delivered again from the list.
      hookStatus = 200;
      const keptRow = `${byTestId("report-row")}[data-id="${keptId}"]`;
      await p.click(`${keptRow} ${byTestId("report-deliver-again")}`);
      await p.waitForSelector(`${keptRow} ${byTestId("report-delivery")}[data-channel="webhook"][data-state="sent"]`, { timeout: 20_000 });
      assert.equal(await p.getAttribute(keptRow, "data-failed"), null);
      const again = await (await raw(`/api/v1/reports/${keptId}`)).json();
      assert.equal(again.webhook?.state, "sent", JSON.stringify(again));
    } finally {
      await fileCtx?.close();
      await ctx.close();
      await stopNode(other);
      hook.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the theme set in Settings applies at once and survives a reload; System follows the OS", async () => {
    // An OS that prefers dark, so that picking light is a visible change (headless Chromium
    // prefers light by default).
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
    try {
      const p = await ctx.newPage();
      watchErrors(p);
      p.setDefaultTimeout(UI_TIMEOUT_MS);
      /** The page's theme: data-theme, color-scheme, and the relative luminance of the body's background. */
      const look = () =>
        p.evaluate(() => {
          const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/[\d.]+/g).map(Number);
          const lin = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
          return {
            theme: document.documentElement.getAttribute("data-theme"),
            scheme: getComputedStyle(document.documentElement).colorScheme,
            luminance: 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b),
          };
        });
      const waitTheme = (theme) => p.waitForSelector(`html[data-theme="${theme}"]`, { state: "attached" });
      const assertLight = (l) => {
        assert.equal(l.theme, "light");
        assert.equal(l.scheme, "light");
        assert.ok(l.luminance > 0.8, `body background is not light: luminance ${l.luminance}`);
      };
      const assertDark = (l) => {
        assert.equal(l.theme, "dark");
        assert.equal(l.scheme, "dark");
        assert.ok(l.luminance < 0.05, `body background is not dark: luminance ${l.luminance}`);
      };

      await p.goto(`${base}/#token=${encodeURIComponent(TOKEN)}`, { timeout: UI_TIMEOUT_MS });
      await waitConn(p, "connected");
      await p.click(byTestId("nav-settings"));
      await p.waitForSelector(byTestId("screen-settings"), { state: "visible" });
      // The default is System: dark, as the OS prefers.
      assert.equal(await p.inputValue(byTestId("theme-select")), "system");
      assertDark(await look());

      await p.selectOption(byTestId("theme-select"), "light");
      await waitTheme("light");
      assertLight(await look());
      assert.equal(await p.evaluate(() => localStorage.getItem("flightdeck.theme")), "light");
      await p.screenshot({ path: path.join(ARTIFACTS, "ui-settings-light.png"), fullPage: true });

      await p.reload();
      await p.waitForSelector(byTestId("screen-settings"), { state: "visible" });
      assert.equal(await p.inputValue(byTestId("theme-select")), "light");
      assertLight(await look());

      await p.selectOption(byTestId("theme-select"), "dark");
      await waitTheme("dark");
      assertDark(await look());

      // System follows the OS, live.
      await p.selectOption(byTestId("theme-select"), "system");
      await p.emulateMedia({ colorScheme: "light" });
      await waitTheme("light");
      assertLight(await look());
      await p.emulateMedia({ colorScheme: "dark" });
      await waitTheme("dark");
      assertDark(await look());
    } finally {
      await ctx.close();
    }
  });

  test("the page raised no uncaught errors and no CSP violations", () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
