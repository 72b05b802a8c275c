// drive.mjs: run one script of browser steps in Debian's headless Chromium
// (/usr/bin/chromium, never a downloaded browser) through playwright-core,
// for ispmaild's browser tests (tests/lib/browser.py; docs/DEVELOPING.md).
//
//   node drive.mjs SCRIPT.json [RESULTS.json]
//
// SCRIPT: { "user_data_dir": "/tmp/.../profile",   (required: a private one)
//           "timeout_ms": 10000, "viewport": {"width": 1024, "height": 768},
//           "steps": [ {"goto": URL}, ... ] }
// Steps (one key names the action; "as" gives it a description,
// "timeout_ms" its own limit instead of the script's):
//   {"goto": URL}                           load, expect a 2xx or 3xx answer
//                                           ("status": N to expect N)
//   {"fill": SELECTOR, "value": TEXT}       type into a field
//   {"check": SELECTOR} / {"uncheck": SELECTOR}
//   {"select": SELECTOR, "value": VALUE}    choose an <option>
//   {"click": SELECTOR}                     click, then wait for the page to load
//                                           ("wait_url": TEXT: until the URL has it)
//   {"expect_text": TEXT, "selector": S}    S (default body) shows TEXT (waits)
//   {"expect_no_text": TEXT, "selector": S}
//   {"expect_url": TEXT}                    the URL contains TEXT (waits)
//   {"expect_title": TEXT}                  the title contains TEXT
//   {"expect_cookie": NAME, "httpOnly": true, "secure": true,
//    "sameSite": "Strict", "present": true} the cookie and its flags; value kept
//   {"text": SELECTOR}                      keep the element's text as the value
//   {"attribute": SELECTOR, "name": NAME}   keep an attribute as the value
//   {"screenshot": PATH, "full_page": true} a PNG at PATH
//   {"screenshot": PATH, "selector": S}     a PNG of the element S only
// Output: TAP-like lines ("ok N - what", "not ok N - what" then "# why"),
// "1..N" at the end; the first failure stops the script (the steps after it
// depend on it). RESULTS, when named, gets [{n, what, ok, error, value}].
// Exit 0 all passed, 1 a step failed, 2 the browser could not run.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Through require, so that NODE_PATH can name the node_modules folder
// (an out-of-tree build; tests/lib/browser.py sets it), which an ES import
// would not look at; beside this file otherwise.
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.ISPMAILD_CHROMIUM || '/usr/bin/chromium';

// Never contact anything but the test's server: no background traffic,
// which this network refuses (and which would make a run slow and noisy).
const QUIET_ARGS = [
  '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-default-apps', '--disable-extensions',
  '--no-default-browser-check', '--disable-features=Translate,MediaRouter',
];

function describe(step) {
  if (step.as) return step.as;
  const action = Object.keys(step).find((k) => ACTIONS[k]);
  const arg = step[action];
  return typeof arg === 'string' ? `${action} ${arg}` : action;
}

// Wait for cond() to be true, polling, until the timeout; then why() says what was seen.
async function waitFor(cond, timeout, why) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`${why()} (after ${timeout} ms)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function bodyText(page, selector) {
  try {
    return await page.locator(selector || 'body').first().innerText({ timeout: 1000 });
  } catch (e) {
    return '';
  }
}

const ACTIONS = {
  async goto(s, ctx) {
    const res = await ctx.page.goto(s.goto, { waitUntil: 'load', timeout: ctx.timeout });
    const status = res ? res.status() : 0;
    if (s.status !== undefined ? status !== s.status : status < 200 || status >= 400)
      throw new Error(`HTTP status ${status}`);
    return status;
  },
  async fill(s, ctx) {
    await ctx.page.fill(s.fill, String(s.value ?? ''), { timeout: ctx.timeout });
  },
  async check(s, ctx) {
    await ctx.page.check(s.check, { timeout: ctx.timeout });
  },
  async uncheck(s, ctx) {
    await ctx.page.uncheck(s.uncheck, { timeout: ctx.timeout });
  },
  async select(s, ctx) {
    await ctx.page.selectOption(s.select, String(s.value), { timeout: ctx.timeout });
  },
  async click(s, ctx) {
    await ctx.page.click(s.click, { timeout: ctx.timeout });
    if (s.wait_url)
      await ctx.page.waitForURL((u) => u.href.includes(s.wait_url), { timeout: ctx.timeout });
    await ctx.page.waitForLoadState('load', { timeout: ctx.timeout });
    return ctx.page.url();
  },
  async expect_text(s, ctx) {
    let seen = '';
    await waitFor(async () => (seen = await bodyText(ctx.page, s.selector)).includes(s.expect_text),
      ctx.timeout, () => `not in ${s.selector || 'body'}, which shows ${JSON.stringify(seen.slice(0, 300))}`);
  },
  async expect_no_text(s, ctx) {
    const seen = await bodyText(ctx.page, s.selector);
    if (seen.includes(s.expect_no_text)) throw new Error('text found');
  },
  async expect_url(s, ctx) {
    await waitFor(() => ctx.page.url().includes(s.expect_url), ctx.timeout,
      () => `the URL is ${ctx.page.url()}`);
    return ctx.page.url();
  },
  async expect_title(s, ctx) {
    const title = await ctx.page.title();
    if (!title.includes(s.expect_title)) throw new Error(`title is ${JSON.stringify(title)}`);
    return title;
  },
  async expect_cookie(s, ctx) {
    const all = await ctx.context.cookies();
    const c = all.find((k) => k.name === s.expect_cookie);
    const want = s.present ?? true;
    if (!want) {
      if (c) throw new Error('the cookie is there');
      return null;
    }
    if (!c) throw new Error(`no such cookie (have: ${all.map((k) => k.name).join(', ') || 'none'})`);
    for (const flag of ['httpOnly', 'secure', 'sameSite', 'path', 'domain'])
      if (s[flag] !== undefined && c[flag] !== s[flag])
        throw new Error(`${flag} is ${JSON.stringify(c[flag])}, not ${JSON.stringify(s[flag])}`);
    return c;
  },
  async text(s, ctx) {
    return await ctx.page.locator(s.text).first().innerText({ timeout: ctx.timeout });
  },
  async attribute(s, ctx) {
    return await ctx.page.locator(s.attribute).first().getAttribute(s.name, { timeout: ctx.timeout });
  },
  async screenshot(s, ctx) {
    if (s.selector) {
      await ctx.page.locator(s.selector).first().screenshot({ path: s.screenshot,
        timeout: ctx.timeout });
      return s.screenshot;
    }
    await ctx.page.screenshot({ path: s.screenshot, fullPage: s.full_page ?? true,
      timeout: ctx.timeout });
    return s.screenshot;
  },
};

async function main() {
  const [scriptPath, resultsPath] = process.argv.slice(2);
  if (!scriptPath) {
    console.error('usage: node drive.mjs SCRIPT.json [RESULTS.json]');
    return 2;
  }
  const script = JSON.parse(readFileSync(scriptPath, 'utf8'));
  if (!script.user_data_dir) {
    console.error('drive.mjs: the script must name a private user_data_dir');
    return 2;
  }
  const timeout = script.timeout_ms || 10000;
  const results = [];
  const save = () => resultsPath && writeFileSync(resultsPath, JSON.stringify(results, null, 1));
  let context;
  try {
    // As root (CI) Chromium's sandbox cannot start: --no-sandbox only then.
    context = await chromium.launchPersistentContext(script.user_data_dir, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: process.getuid() !== 0,
      args: QUIET_ARGS,
      ignoreHTTPSErrors: true,	// the test's self-signed certificate, on 127.0.0.1 only
      viewport: script.viewport || { width: 1024, height: 768 },
      timeout: 30000,
    });
  } catch (e) {
    console.log(`Bail out! cannot start ${CHROMIUM}: ${String(e.message).split('\n')[0]}`);
    results.push({ n: 0, what: 'launch', ok: false, error: String(e.message) });
    save();
    return 2;
  }
  const page = context.pages()[0] || (await context.newPage());
  const ctx = { page, context, timeout };
  let failed = false;
  let n = 0;
  for (const step of script.steps || []) {
    n++;
    const what = describe(step);
    const action = Object.keys(step).find((k) => ACTIONS[k]);
    const r = { n, what, ok: true, error: null, value: null };
    ctx.timeout = step.timeout_ms || timeout;
    try {
      if (!action) throw new Error(`no action in ${JSON.stringify(step)}`);
      r.value = (await ACTIONS[action](step, ctx)) ?? null;
      console.log(`ok ${n} - ${what}`);
    } catch (e) {
      r.ok = false;
      r.error = String(e.message).split('\n')[0];
      console.log(`not ok ${n} - ${what}`);
      console.log(`# ${r.error}  (at ${page.url()})`);
      failed = true;
    }
    results.push(r);
    if (failed) break;
  }
  console.log(`1..${n}`);
  save();
  await context.close();
  return failed ? 1 : 0;
}

process.exitCode = await main();
