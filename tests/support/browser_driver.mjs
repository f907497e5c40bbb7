// A real browser for the Python tests: Debian's chromium driven by playwright-core (from
// web/node_modules; no browser download). Reads one JSON command per line on stdin, answers
// one JSON line on stdout: {"ok":true,"value":...} or {"ok":false,"error":"..."}.
// Commands: {op, ...args}; see tests/support/browser.py for the list.
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const pwPath = process.env.FERRY_PLAYWRIGHT_CORE;
const { chromium } = await import(pathToFileURL(`${pwPath}/index.mjs`).href);
const browser = await chromium.launch({
  executablePath: process.env.FERRY_CHROMIUM || '/usr/bin/chromium',
  // Root in a container: chromium's sandbox needs user namespaces it may not get.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
let context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
let page = await context.newPage();
const consoleErrors = [];
const watch = (p) => {
  p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  p.on('pageerror', (e) => consoleErrors.push(String(e)));
};
watch(page);

const ops = {
  async goto({ url }) { await page.goto(url, { waitUntil: 'domcontentloaded' }); },
  async wait({ selector, state = 'visible', timeout = 30000 }) {
    await page.locator(selector).first().waitFor({ state, timeout });
  },
  // Waits until fn (a function body returning a value) is truthy; returns it. Checked on
  // every animation frame inside the page (no eval there: the page's CSP forbids it, and
  // Playwright's waitForFunction evals), again after a navigation destroyed the check.
  async waitFn({ fn, arg = null, timeout = 30000 }) {
    const deadline = Date.now() + timeout;
    const check = new Function('input', `return new Promise((resolve, reject) => {
      const probe = function (arg) { ${fn} };
      const tick = () => {
        let v;
        try { v = probe(input.arg); } catch (e) { v = undefined; }
        if (v) return resolve(v);
        if (Date.now() > input.deadline) return reject(new Error('timed out waiting for: ' + input.src));
        requestAnimationFrame(tick);
      };
      tick();
    });`);
    for (;;) {
      try {
        return await page.evaluate(check, { arg, deadline, src: fn.slice(0, 200) });
      } catch (e) {
        if (Date.now() > deadline || !/context was destroyed|navigat/i.test(String(e))) throw e;
      }
    }
  },
  async click({ selector }) { await page.locator(selector).first().click(); },
  async fill({ selector, value }) { await page.locator(selector).first().fill(value); },
  async press({ selector, key }) { await page.locator(selector).first().press(key); },
  async select({ selector, value }) { await page.locator(selector).first().selectOption(value); },
  async check({ selector }) { await page.locator(selector).first().check(); },
  // Clicks and saves the download that follows; returns the file name the page suggested.
  async download({ selector, path, timeout = 30000 }) {
    const [d] = await Promise.all([page.waitForEvent('download', { timeout }), page.locator(selector).first().click()]);
    await d.saveAs(path);
    return d.suggestedFilename();
  },
  async text({ selector }) { return await page.locator(selector).first().innerText(); },
  async attr({ selector, name }) { return await page.locator(selector).first().getAttribute(name); },
  async count({ selector }) { return await page.locator(selector).count(); },
  async eval({ fn, arg = null }) { return await page.evaluate(new Function('arg', fn), arg); },
  async screenshot({ path, fullPage = false }) { await page.screenshot({ path, fullPage }); },
  async viewport({ width, height }) { await page.setViewportSize({ width, height }); },
  async newContext() {
    await context.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    watch(page);
  },
  async consoleErrors() { return consoleErrors.splice(0); },
  async close() { await browser.close(); process.exit(0); },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  let reply;
  try {
    const cmd = JSON.parse(line);
    const f = ops[cmd.op];
    if (!f) throw new Error(`unknown op ${cmd.op}`);
    const value = await f(cmd);
    reply = { ok: true, value: value === undefined ? null : value };
  } catch (e) {
    reply = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
await browser.close();
