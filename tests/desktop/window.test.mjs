// The real desktop window under Xvfb, driven over WebDriver (tauri-driver): it shows the UI
// with live data from the embedded engine, reached in-process (no TCP port), and the same
// health dependencies as a node. Screenshots are saved as test artifacts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";

const base = process.env.WEBDRIVER_URL;
const app = process.env.FLIGHTDECK_DESKTOP_APP;
const artifacts = process.env.ARTIFACTS_DIR ?? "target/test-artifacts";
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
let session;

async function wd(method, path, body, timeoutMs = 60_000) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.value;
}

const s = (path) => `/session/${session}${path}`;
const dataDir = process.env.FLIGHTDECK_DATA_DIR;

async function find(testid, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const el = await wd("POST", s("/element"), { using: "css selector", value: `[data-testid="${testid}"]` });
      return el[ELEMENT];
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`no element ${testid}: ${last}`);
}

const text = async (testid) => wd("GET", s(`/element/${await find(testid)}/text`));
const attr = async (testid, name) => wd("GET", s(`/element/${await find(testid)}/attribute/${name}`));

async function waitFor(what, fn, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

/** What runs of ours are alive, for failure messages. */
function processes() {
  const ps = execFileSync("ps", ["-eo", "pid,ppid,stat,etime,args"]).toString();
  return ps.split("\n").filter((l) => /flightdeck|WebKit|tauri-driver/.test(l)).join("\n");
}

/** Whether an instance of the app still holds its single-instance name on the session bus. */
function singleInstanceNameOwned() {
  try {
    const out = execFileSync("dbus-send", [
      "--session",
      "--print-reply",
      "--dest=org.freedesktop.DBus",
      "/org/freedesktop/DBus",
      "org.freedesktop.DBus.NameHasOwner",
      "string:dev.flightdeck.desktop.SingleInstance",
    ]).toString();
    return out.includes("boolean true");
  } catch {
    return false;
  }
}

/**
 * Waits until the previous window is gone: its process, and its single-instance name on the
 * bus, which the bus releases a moment after the process dies. A launch in between hands over
 * to a dead instance and exits ("failed to forward arguments to the running instance").
 */
async function waitPreviousGone() {
  const deadline = Date.now() + 20_000;
  while (appPids().length > 0 || singleInstanceNameOwned()) {
    assert.ok(Date.now() < deadline, `the previous window did not go away within 20 s:\n${processes()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts the app in a new WebDriver session; a failure says which processes were alive. */
async function newSession(args = []) {
  const capabilities = { alwaysMatch: { browserName: "wry", "tauri:options": { application: app, args } } };
  try {
    return (await wd("POST", "/session", { capabilities })).sessionId;
  } catch (e) {
    throw new Error(`no WebDriver session: ${e}\nprocesses:\n${processes()}`);
  }
}

before(async () => {
  assert.ok(base, "WEBDRIVER_URL is set by tests/desktop/run.sh");
  session = await newSession();
});

after(async () => {
  if (session) await wd("DELETE", s("")).catch(() => {});
});

function appPids() {
  try {
    return execFileSync("pgrep", ["-f", app]).toString().trim().split("\n").filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`).toString().split("\0").includes(`FLIGHTDECK_DATA_DIR=${dataDir}`);
      } catch {
        return false;
      }
    });
  } catch {
    return [];
  }
}

test("the window is titled Flightdeck and shows the overview", async () => {
  assert.equal(await wd("GET", s("/title")), "Flightdeck");
  await find("screen-overview");
  const version = await waitFor("node version", () => text("node-version"));
  assert.match(version, /\d+\.\d+\.\d+/);
});

test("live engine data arrives through the Tauri channel", async () => {
  await waitFor("connected", async () => (await attr("conn-status", "data-state")) === "connected");
  // Metrics samples keep arriving (they carry the last domain event's seq, so the uptime
  // they report is what moves).
  const first = Number(await waitFor("a first sample", async () => (await text("live-uptime")) || null));
  const later = await waitFor("samples to move", async () => {
    const n = Number(await text("live-uptime"));
    return n > first ? n : 0;
  }, 10_000);
  assert.ok(later > first);
  const seq = Number(await text("live-seq"));
  assert.ok(Number.isFinite(seq) && seq >= 0);
  const shot = await wd("GET", s("/screenshot"));
  writeFileSync(join(artifacts, "desktop-overview.png"), Buffer.from(shot, "base64"));
});

test("health shows the embedded engine's dependencies, keychain included", async () => {
  await wd("POST", s(`/element/${await find("nav-health")}/click`), {});
  await find("screen-health");
  for (const name of ["database", "secrets", "config"]) {
    const status = await waitFor(`${name} row`, () => attr(`health-row-${name}`, "data-status"));
    assert.equal(status, "healthy", `${name} is ${status}`);
  }
  const shot = await wd("GET", s("/screenshot"));
  writeFileSync(join(artifacts, "desktop-health.png"), Buffer.from(shot, "base64"));
  // The whole X screen too, as a person would see it.
  execFileSync("import", ["-window", "root", join(artifacts, "desktop-screen.png")]);
});

test("a download lands in the Downloads folder, never over an existing file", async () => {
  const dir = process.env.TEST_DOWNLOAD_DIR;
  assert.ok(dir, "session.sh sets TEST_DOWNLOAD_DIR (and XDG_DOWNLOAD_DIR in user-dirs.dirs)");
  const cwd = readdirSync(process.cwd());
  await wd("POST", s(`/element/${await find("nav-costs")}/click`), {});
  await find("screen-costs");
  const name = "flightdeck-ledger-this_month.csv";
  const files = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith("flightdeck-ledger-")).sort() : []);
  await wd("POST", s(`/element/${await find("cost-export-csv")}/click`), {});
  await waitFor("the first file", () => files().includes(name));
  await wd("POST", s(`/element/${await find("cost-export-csv")}/click`), {});
  await waitFor("the second file beside it", () => files().length === 2);
  // The second beside the first, under a numbered name (WebKit may number it before we do).
  assert.ok(files().includes(name), files().join(", "));
  assert.match(files().find((f) => f !== name) ?? "", /^flightdeck-ledger-this_month \(\d\)\.csv$/);
  for (const f of files()) {
    // The ledger's CSV header, whole (written before the test reads it: waits for the size).
    const body = await waitFor(`${f} written`, () => {
      const b = readFileSync(join(dir, f), "utf8");
      return b.includes("\n") ? b : null;
    });
    assert.match(body.split("\n")[0], /^[a-z_]+(,[a-z_]+)+$/, `${f}: ${body.slice(0, 200)}`);
  }
  // Nothing written where the app was started (WebKitGTK's own default).
  assert.deepEqual(readdirSync(process.cwd()).filter((f) => !cwd.includes(f)), []);
  await wd("POST", s(`/element/${await find("nav-overview")}/click`), {});
});

test("a report opens in a window of its own, styled, without the app's commands", async () => {
  const main = await wd("GET", s("/window"));
  await wd("POST", s(`/element/${await find("nav-reports")}/click`), {});
  await find("screen-reports");
  await wd("POST", s(`/element/${await find("report-generate")}/click`), {});
  const title = (await waitFor("the report made", () => text("report-title"), 90_000)).trim();
  assert.match(title, /^Flightdeck weekly report/);
  await wd("POST", s(`/element/${await find("report-open-html", 60_000)}/click`), {});
  const handles = await waitFor("a second window", async () => {
    const h = await wd("GET", s("/window/handles"));
    return h.length === 2 ? h : null;
  });
  await wd("POST", s("/window"), { handle: handles.find((h) => h !== main) });
  try {
    assert.match(await wd("GET", s("/url")), /^blob:/);
    assert.equal(await waitFor("its title", async () => ((await wd("GET", s("/title"))) === title ? title : null)), title);
    const run = (script) => wd("POST", s("/execute/sync"), { script, args: [] });
    // Its stylesheet applied (allowed by hash in the app's CSP, which a blob: page inherits).
    assert.equal(await run("return getComputedStyle(document.body).maxWidth"), "992px");
    // No way to the app's commands from there: the capability is the main window's only.
    const refused = await wd("POST", s("/execute/async"), {
      script: `const done = arguments[arguments.length - 1];
        const i = window.__TAURI_INTERNALS__;
        if (!i) { done("no ipc"); return; }
        setTimeout(() => done("no answer in 5 s"), 5000);
        i.invoke("feed_unsubscribe", { id: 1 }).then(() => done("allowed"), (e) => done(String(e)));`,
      args: [],
    });
    assert.match(refused, /no ipc|not allowed|no answer/i, refused);
    const shot = await wd("GET", s("/screenshot"));
    writeFileSync(join(artifacts, "desktop-report.png"), Buffer.from(shot, "base64"));
  } finally {
    await wd("DELETE", s("/window")).catch(() => {});
    await wd("POST", s("/window"), { handle: main });
  }
  assert.deepEqual(await wd("GET", s("/window/handles")), [main]);
  await wd("POST", s(`/element/${await find("nav-overview")}/click`), {});
});

test("no TCP port is opened by the desktop (besides WebDriver's inspector)", async () => {
  const pids = appPids();
  assert.ok(pids.length > 0, "the app runs");
  const listening = execFileSync("ss", ["-ltnpH"]).toString().split("\n");
  for (const pid of pids) {
    // WebKitWebDriver makes WebKit listen on WEBKIT_INSPECTOR_SERVER for automation; that
    // socket exists only under WebDriver. Anything else would be Flightdeck's own.
    const env = readFileSync(`/proc/${pid}/environ`).toString().split("\0");
    const inspector = env.find((e) => e.startsWith("WEBKIT_INSPECTOR_SERVER="))?.split("=")[1];
    const own = listening.filter((l) => l.includes(`pid=${pid},`) && !(inspector && l.includes(` ${inspector} `)));
    assert.deepEqual(own, [], `desktop pid ${pid} listens on a port`);
  }
});

test("the Settings switch serves the gateway on loopback, and stops it", async () => {
  const pid = appPids()[0];
  assert.ok(pid, "the app runs");
  const listens = () =>
    execFileSync("ss", ["-ltnpH"]).toString().split("\n").some((l) => l.includes("127.0.0.1:7879") && l.includes(`pid=${pid},`));
  await wd("POST", s(`/element/${await find("nav-settings")}/click`), {});
  await find("screen-settings");
  assert.equal(await attr("gateway-state", "data-listening"), "false");
  assert.equal(listens(), false);
  await wd("POST", s(`/element/${await find("gateway-switch")}/click`), {});
  await waitFor("the listener", async () => (await attr("gateway-state", "data-listening")) === "true");
  assert.match(await text("gateway-state"), /Listening on 127\.0\.0\.1:7879/);
  assert.ok(listens(), "the app listens on 127.0.0.1:7879");
  // The gateway, in the OpenAI format, and only to a named token.
  const res = await fetch("http://127.0.0.1:7879/v1/models", { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.type, "authentication_error");
  const api = await fetch("http://127.0.0.1:7879/api/v1/info", { signal: AbortSignal.timeout(5000) });
  assert.equal(api.status, 404, "only the gateway is served there");
  const shot = await wd("GET", s("/screenshot"));
  writeFileSync(join(artifacts, "desktop-gateway-on.png"), Buffer.from(shot, "base64"));
  // The setting was written to the config file.
  const file = join(process.env.XDG_CONFIG_HOME, "flightdeck", "flightdeck.toml");
  assert.match(readFileSync(file, "utf8"), /desktop_listen = true/);
  await wd("POST", s(`/element/${await find("gateway-switch")}/click`), {});
  await waitFor("the listener to stop", async () => (await attr("gateway-state", "data-listening")) === "false");
  await waitFor("the port to close", () => !listens());
  assert.match(readFileSync(file, "utf8"), /desktop_listen = false/);
  await wd("POST", s(`/element/${await find("nav-overview")}/click`), {});
});

test("a second launch hands over to the running window and exits", async () => {
  const second = spawn(app, [], { env: process.env, stdio: "ignore" });
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      second.kill("SIGKILL");
      reject(new Error("the second instance kept running"));
    }, 20_000);
    second.on("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0);
  // The first window still answers.
  assert.equal(await wd("GET", s("/title")), "Flightdeck");
});

test("the window can be resized (its size is saved on close, see the next tests)", async () => {
  const rect = await wd("POST", s("/window/rect"), { width: 1100, height: 700 });
  assert.equal(rect.width, 1100);
  assert.equal(rect.height, 700);
});

test("SIGTERM closes the window gracefully: engine shut down, database intact", async () => {
  const pids = appPids();
  assert.equal(pids.length, 1);
  process.kill(Number(pids[0]), "SIGTERM");
  const deadline = Date.now() + 20_000;
  while (appPids().length > 0) {
    assert.ok(Date.now() < deadline, "the app did not exit within 20 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  // The browser is gone with the app; end the WebDriver session too.
  await wd("DELETE", s("")).catch(() => {});
  session = undefined;
  const db = join(dataDir, "flightdeck.db");
  // A graceful close checkpoints the WAL into the database (TRUNCATE) and closes the pool,
  // leaving no WAL content behind. Checked before anything else opens the file.
  let wal = 0;
  try {
    wal = statSync(`${db}-wal`).size;
  } catch {
    wal = 0;
  }
  assert.equal(wal, 0, "the WAL was not checkpointed: the engine did not shut down gracefully");
  const check = execFileSync("sqlite3", [db, "PRAGMA integrity_check;"]).toString().trim();
  assert.equal(check, "ok");
});

test("the window's size is restored at the next launch", async () => {
  await waitPreviousGone();
  session = await newSession();
  await find("screen-overview");
  const rect = await wd("GET", s("/window/rect"));
  assert.equal(rect.width, 1100);
  assert.equal(rect.height, 700);
});

test("when the engine cannot open, the window stays and says why", async () => {
  await wd("DELETE", s("")).catch(() => {});
  session = undefined;
  // The previous window must be gone: a second instance would hand over to it and exit.
  await waitPreviousGone();
  // A data dir that is a regular file cannot be used: the engine refuses it.
  const notADir = join(dataDir, "..", "not-a-directory");
  writeFileSync(notADir, "x");
  session = await newSession(["--data-dir", notADir]);
  assert.equal(await wd("GET", s("/title")), "Flightdeck");
  const banner = await waitFor("the start-up banner", () => text("startup-banner"));
  assert.match(banner, /could not start/i);
  assert.equal(await attr("startup-banner", "data-code"), "data_dir_unwritable");
  const note = await waitFor("the start-up error", () => text("error-note"));
  assert.match(note, /could not start/i);
  assert.match(note, /not-a-directory/);
  const code = await attr("error-note", "data-code");
  assert.equal(code, "data_dir_unwritable");
  const shot = await wd("GET", s("/screenshot"));
  writeFileSync(join(artifacts, "desktop-startup-error.png"), Buffer.from(shot, "base64"));
});
