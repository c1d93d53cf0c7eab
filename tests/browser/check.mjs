// The browser check behind tests/browser/run.sh: Debian's Chromium, driven by playwright-core,
// against a running `deepvault serve corpus.example`.
//
// Environment (run.sh sets it): BASE_URL (http://127.0.0.1:PORT), OAUTH_BASE_URL and
// OAUTH_PASSPHRASE (a second server with built-in OAuth, for the consent page), PLAYWRIGHT_DIR (the folder
// holding node_modules/playwright-core), CHROMIUM (/usr/bin/chromium), ARTIFACTS (screenshots go
// here), PROFILE_ROOT (fresh user-data-dirs are made under it).
//
// Prints one PASS or FAIL line per check and exits 1 if any check failed. Every wait is bounded;
// nothing sleeps.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`check.mjs: ${name} is not set (run tests/browser/run.sh)`);
    process.exit(2);
  }
  return value;
};
const BASE = need('BASE_URL').replace(/\/+$/, '');
const OAUTH_BASE = need('OAUTH_BASE_URL').replace(/\/+$/, '');
const OAUTH_PASSPHRASE = need('OAUTH_PASSPHRASE');
const require = createRequire(join(need('PLAYWRIGHT_DIR'), 'package.json'));
const { chromium } = require('playwright-core');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = need('ARTIFACTS');
const PROFILE_ROOT = process.env.PROFILE_ROOT || tmpdir();
mkdirSync(ARTIFACTS, { recursive: true });

const TIMEOUT = 10_000; // any single wait or action
const NAV_TIMEOUT = 15_000; // any navigation
const QUERY = 'tomato blight';
const EXPECTED_TITLE = 'Tomato blight';
const CALLOUT_NOTE = '/notes/Coffee/Pour%20over%20ratio.md'; // a `> [!note]` callout
const PHONE = { width: 390, height: 844 };

// Chromium needs these on this machine: its network is closed, and without the
// background-networking flags it stalls on refused connections.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// --- reporting -------------------------------------------------------------------------------

const failures = [];
const artifacts = [];
let currentPage = null;

function fail(message) {
  throw new Error(message);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    console.log(`PASS ${name}${detail ? ` (${detail})` : ''}`);
    return true;
  } catch (error) {
    const message = String(error?.message ?? error).split('\n')[0];
    console.log(`FAIL ${name}: ${message}`);
    failures.push(name);
    if (currentPage && !currentPage.isClosed()) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
      await shot(currentPage, `failure-${slug}.png`).catch(() => {});
    }
    return false;
  }
}

async function shot(page, file) {
  const path = join(ARTIFACTS, file);
  await page.screenshot({ path, fullPage: true, timeout: TIMEOUT });
  artifacts.push(path);
  return path;
}

// --- browser ---------------------------------------------------------------------------------

// Each context gets its own fresh, empty profile: Playwright refuses --user-data-dir among the
// args and takes it as launchPersistentContext's first parameter instead.
async function openBrowser(options) {
  const profile = mkdtempSync(join(PROFILE_ROOT, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: 30_000,
    ...options,
  });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => console.log(`info: page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) console.log(`info: ${response.status()} for ${response.url()}`);
  });
  currentPage = page;
  return { context, page };
}

async function open(page, path) {
  const response = await page.goto(BASE + path, { waitUntil: 'load' });
  if (!response) fail(`no response for ${path}`);
  if (response.status() !== 200) fail(`${path} answered ${response.status()}`);
  return response;
}

// The horizontal extent of the document against the width of the viewport, and (for the message)
// what sticks out. With isMobile, Chromium widens the layout viewport (and innerWidth) to fit
// content that is too wide, so the limit is the phone's width, not just innerWidth.
async function horizontalOverflow(page) {
  return page.evaluate((phoneWidth) => {
    const doc = document.documentElement;
    const width = Math.min(window.innerWidth, doc.clientWidth, phoneWidth);
    const culprits = [];
    // Content of a box that scrolls on its own (pre, table) does not widen the document.
    const scrolledInside = (el) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== 'visible') return true;
      }
      return false;
    };
    for (const el of document.body.querySelectorAll('*')) {
      const rect = el.getBoundingClientRect();
      if (rect.right > width + 0.5 && rect.width > 0 && !scrolledInside(el)) {
        const cls = typeof el.className === 'string' && el.className ? `.${el.className.split(' ')[0]}` : '';
        const text = el.childElementCount ? '' : ` "${el.textContent.trim().slice(0, 60)}"`;
        culprits.push(`${el.tagName.toLowerCase()}${cls}${text} right=${Math.round(rect.right)}`);
      }
    }
    return { scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, clientWidth: doc.clientWidth, culprits: culprits.slice(0, 5) };
  }, PHONE.width);
}

async function noHorizontalScroll(page, label) {
  const o = await horizontalOverflow(page);
  const limit = Math.min(o.innerWidth, PHONE.width);
  if (o.scrollWidth > limit) {
    fail(`${label}: document.documentElement.scrollWidth ${o.scrollWidth} > ${limit} (innerWidth ${o.innerWidth}); sticking out: ${o.culprits.join(', ') || 'nothing found'}`);
  }
  return `${label}: scrollWidth ${o.scrollWidth} <= innerWidth ${o.innerWidth}`;
}

// --- desktop -----------------------------------------------------------------------------------

let noteUrl = null; // where the first result led

async function desktop() {
  const { context, page } = await openBrowser({ viewport: { width: 1280, height: 800 } });
  try {
    if (!(await check('search page loads: GET / answers 200', async () => { await open(page, '/'); }))) return;

    await check('page has a language: <html lang>', async () => {
      const lang = await page.evaluate(() => document.documentElement.getAttribute('lang'));
      if (!lang || !lang.trim()) fail('<html> has no lang attribute');
      return `lang="${lang}"`;
    });

    await check('page has a responsive viewport meta that allows zooming', async () => {
      const content = await page.evaluate(
        () => document.querySelector('meta[name="viewport"]')?.getAttribute('content') ?? null,
      );
      if (content === null) fail('no <meta name="viewport">');
      if (!/width\s*=\s*device-width/i.test(content)) fail(`viewport "${content}" lacks width=device-width`);
      if (/user-scalable\s*=\s*(no|0)/i.test(content)) fail(`viewport "${content}" disables zooming`);
      const max = /maximum-scale\s*=\s*([\d.]+)/i.exec(content);
      if (max && Number(max[1]) < 2) fail(`viewport "${content}" limits zooming`);
      return `content="${content}"`;
    });

    await check('page has a non-empty <title>', async () => {
      const title = (await page.title()).trim();
      if (!title) fail('empty <title>');
      return `"${title}"`;
    });

    await check('search box has a visible label (accessible name)', async () => {
      const info = await page.evaluate(() => {
        const input = document.querySelector('input#q');
        if (!input) return null;
        const labels = [...(input.labels ?? [])].map((l) => {
          const r = l.getBoundingClientRect();
          return { text: l.textContent.trim(), visible: r.width > 0 && r.height > 0 };
        });
        return { type: input.type, name: input.name, labels, ariaLabel: input.getAttribute('aria-label') };
      });
      if (!info) fail('no <input id="q">');
      if (info.type !== 'search' || info.name !== 'q') fail(`input is type=${info.type} name=${info.name}`);
      const label = info.labels.find((l) => l.text && l.visible);
      if (!label) fail(`no visible <label> for #q (labels: ${JSON.stringify(info.labels)}, aria-label: ${info.ariaLabel})`);
      // The accessibility tree must agree: a searchbox whose name is that label.
      const box = page.getByRole('searchbox', { name: label.text, exact: true });
      if ((await box.count()) !== 1) fail(`no searchbox named "${label.text}" in the accessibility tree`);
      return `searchbox "${label.text}"`;
    });

    await check('submit button has an accessible name', async () => {
      const button = page.locator('form[role="search"] button[type="submit"], form button[type="submit"]').first();
      await button.waitFor({ state: 'visible' });
      const name = (await button.innerText()).trim() || (await button.getAttribute('aria-label')) || '';
      if (!name) fail('the submit button has no text or aria-label');
      if ((await page.getByRole('button', { name, exact: true }).count()) < 1) fail(`no button named "${name}"`);
      return `button "${name}"`;
    });

    const searched = await check(`typing "${QUERY}" and submitting shows a results list`, async () => {
      const input = page.locator('#q');
      await input.click();
      await input.fill('');
      await input.pressSequentially(QUERY);
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('q') === QUERY),
        page.locator('form button[type="submit"]').first().click(),
      ]);
      await page.locator('ol.results > li a.hit').first().waitFor({ state: 'visible' });
      const count = await page.locator('ol.results > li').count();
      const heading = (await page.locator('#results').innerText().catch(() => '')).trim();
      return `${count} results; "${heading}"`;
    });
    if (!searched) return;

    await check(`first result's title is "${EXPECTED_TITLE}"`, async () => {
      const title = (await page.locator('ol.results > li a.hit').first().innerText()).trim();
      if (title !== EXPECTED_TITLE) fail(`first result is "${title}"`);
      const href = await page.locator('ol.results > li a.hit').first().getAttribute('href');
      return `href ${href}`;
    });

    await check('screenshot: search results (desktop)', async () => shot(page, 'search-results-desktop.png'));

    const navigated = await check('clicking the first result opens its note', async () => {
      const hit = page.locator('ol.results > li a.hit').first();
      const href = new URL(await hit.getAttribute('href'), page.url());
      if (href.origin !== new URL(BASE).origin) fail(`the citation URL ${href} leaves the server ${BASE}`);
      await Promise.all([
        page.waitForURL((url) => url.pathname.startsWith('/notes/'), { waitUntil: 'load' }),
        hit.click(),
      ]);
      noteUrl = page.url();
      const path = decodeURIComponent(new URL(noteUrl).pathname);
      if (path !== '/notes/Garden/Tomato blight.md') fail(`landed on ${path}`);
      return noteUrl;
    });
    if (!navigated) return;

    await check(`note page shows a visible h1 containing "${EXPECTED_TITLE}"`, async () => {
      const h1 = page.locator('h1', { hasText: EXPECTED_TITLE }).first();
      await h1.waitFor({ state: 'visible' });
      const total = await page.locator('h1').count();
      return `"${(await h1.innerText()).trim()}", ${total} h1 on the page`;
    });

    await check("the URL's #anchor is the id of an element on the page", async () => {
      const { hash } = new URL(page.url());
      if (!hash || hash === '#') return 'no anchor in the URL';
      const id = decodeURIComponent(hash.slice(1));
      const found = await page.evaluate((id) => {
        const el = document.getElementById(id);
        if (!el) return null;
        return { tag: el.tagName.toLowerCase(), text: el.textContent.trim(), target: document.querySelector(':target') === el };
      }, id);
      if (!found) fail(`no element with id="${id}"`);
      if (!found.target) fail(`#${id} exists but the browser does not treat it as the :target`);
      return `#${id} -> <${found.tag}> "${found.text}"`;
    });

    await check('screenshot: note page (desktop)', async () => shot(page, 'note-desktop.png'));

    await check('callouts on the note are styled boxes (border-left-width > 0)', async () => {
      return calloutStyles(page);
    });

    if (await check(`callout note ${decodeURIComponent(CALLOUT_NOTE)} opens`, async () => { await open(page, CALLOUT_NOTE); })) {
      await check('.callout is styled: computed border-left-width > 0', async () => calloutStyles(page));
      await check('screenshot: callout note (desktop)', async () => shot(page, 'callout-desktop.png'));
    }
  } finally {
    await context.close();
  }
}

// A search hit on a PDF cites the file at the page of its passage, and Chromium opens it there:
// the PDF's page 2 holds the words searched for, so the link is /files/…pdf#page=2.
const PDF_QUERY = 'bitterness rose sharply past 21% extraction';
const PDF_PATH = '/files/Reading/Papers/Extraction%20yield%20and%20grind%20size.pdf';
async function pdfCitation() {
  const { context, page } = await openBrowser({});
  try {
    let href = null;
    const found = await check(`a search for "${PDF_QUERY}" cites the PDF at page 2`, async () => {
      await open(page, `/?q=${encodeURIComponent(PDF_QUERY)}`);
      const hit = page.locator('ol.results > li a.hit').first();
      await hit.waitFor({ state: 'visible' });
      href = new URL(await hit.getAttribute('href'), page.url());
      if (href.pathname !== PDF_PATH || href.hash !== '#page=2') fail(`the first hit cites ${href}`);
      return href.toString();
    });
    if (!found) return;
    await check('the citation opens the PDF in Chromium at #page=2 (200, application/pdf)', async () => {
      const hit = page.locator('ol.results > li a.hit').first();
      const [response] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === PDF_PATH),
        hit.click(),
      ]);
      if (response.status() !== 200) fail(`the PDF answered ${response.status()}`);
      const type = response.headers()['content-type'];
      if (type !== 'application/pdf') fail(`content-type ${type}`);
      await page.waitForURL((url) => url.pathname === PDF_PATH && url.hash === '#page=2');
      // Chromium's own PDF viewer shows it (not a download, not a page of text).
      const viewer = await pdfViewerPage(page, '2');
      await shot(page, 'pdf-citation.png');
      return `${page.url()}: Chromium's PDF viewer shows page ${viewer}`;
    });
  } finally {
    await context.close();
  }
}

// The page number Chromium's PDF viewer shows (its toolbar's page field, inside the viewer's own
// frame and shadow roots, which Playwright's CSS locators pierce).
// Polled until it shows `wanted` (the viewer loads the file, then scrolls to the page).
async function pdfViewerPage(page, wanted) {
  const deadline = Date.now() + TIMEOUT;
  let shown = null;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const field = frame.locator('viewer-page-selector input, #pageSelector');
      if ((await field.count().catch(() => 0)) > 0) {
        shown = await field.first().inputValue().catch(() => shown);
        if (shown === wanted) return shown;
      }
    }
    await page.waitForTimeout(100);
  }
  if (shown === null) fail(`no PDF viewer page field in frames ${page.frames().map((f) => f.url()).join(', ')}`);
  fail(`the PDF viewer shows page ${shown}, not ${wanted}`);
}

async function calloutStyles(page) {
  const callouts = page.locator('.callout');
  await callouts.first().waitFor({ state: 'visible' });
  const styles = await callouts.evaluateAll((els) =>
    els.map((el) => {
      const s = getComputedStyle(el);
      return {
        cls: el.className,
        width: parseFloat(s.borderLeftWidth),
        style: s.borderLeftStyle,
        color: s.borderLeftColor,
        title: el.querySelector('.callout-title')?.textContent.trim() ?? '',
      };
    }),
  );
  for (const s of styles) {
    if (!(s.width > 0) || s.style === 'none') {
      fail(`.${s.cls.split(' ').join('.')} has border-left ${s.width}px ${s.style}`);
    }
  }
  return styles.map((s) => `${s.cls}: ${s.width}px ${s.style} ${s.color}, "${s.title}"`).join('; ');
}

// --- phone -------------------------------------------------------------------------------------

async function phone() {
  const { context, page } = await openBrowser({
    viewport: PHONE,
    screen: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const results = `/?q=${encodeURIComponent(QUERY)}`;
  const note = noteUrl ? noteUrl.slice(new URL(noteUrl).origin.length) : '/notes/Garden/Tomato%20blight.md#tomato-blight';
  try {
    await check(`phone ${PHONE.width}x${PHONE.height}: no horizontal scrolling on the search page`, async () => {
      await open(page, '/');
      return noHorizontalScroll(page, '/');
    });
    await check(`phone ${PHONE.width}x${PHONE.height}: no horizontal scrolling on the search results`, async () => {
      await open(page, results);
      await page.locator('ol.results > li a.hit').first().waitFor({ state: 'visible' });
      return noHorizontalScroll(page, results);
    });
    await check('screenshot: search results (phone)', async () => shot(page, 'search-results-phone.png'));
    await check(`phone ${PHONE.width}x${PHONE.height}: no horizontal scrolling on the note page`, async () => {
      await open(page, note);
      await page.locator('h1', { hasText: EXPECTED_TITLE }).first().waitFor({ state: 'visible' });
      return noHorizontalScroll(page, decodeURIComponent(note));
    });
    await check('screenshot: note page (phone)', async () => shot(page, 'note-phone.png'));
    await check(`phone ${PHONE.width}x${PHONE.height}: no horizontal scrolling on the callout note`, async () => {
      await open(page, CALLOUT_NOTE);
      return noHorizontalScroll(page, decodeURIComponent(CALLOUT_NOTE));
    });
    // A note with a long unbreakable wikilink path: it once scrolled sideways on a phone.
    const longLinks = '/notes/Projects/brewlog/Release%20checklist.md';
    await check(`phone ${PHONE.width}x${PHONE.height}: no horizontal scrolling on a note with long link paths`, async () => {
      await open(page, longLinks);
      return noHorizontalScroll(page, decodeURIComponent(longLinks));
    });
  } finally {
    await context.close();
  }
}

// --- consent page (built-in OAuth) -------------------------------------------------------------

// A loopback "app": it registers, sends the owner's browser to /authorize, and its redirect_uri is
// a real listener here that records what arrives.
async function callbackListener() {
  const hits = [];
  const server = createServer((req, res) => {
    if (req.url.startsWith('/callback')) hits.push(req.url); // not /favicon.ico
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>callback</title><p>landed</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, hits, redirect: `http://127.0.0.1:${server.address().port}/callback` };
}

async function consent() {
  const app = await callbackListener();
  const { context, page } = await openBrowser({ viewport: { width: 1280, height: 800 } });
  try {
    let clientId = null;
    const registered = await check('an app registers (POST /register)', async () => {
      const answer = await fetch(`${OAUTH_BASE}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'Browser Test App', redirect_uris: [app.redirect], token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        }),
        signal: AbortSignal.timeout(TIMEOUT),
      });
      if (answer.status !== 201) fail(`/register answered ${answer.status}: ${await answer.text()}`);
      clientId = (await answer.json()).client_id;
      return clientId;
    });
    if (!registered) return;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const state = randomBytes(8).toString('hex');
    const authorize = `${OAUTH_BASE}/authorize?` + new URLSearchParams({
      response_type: 'code', client_id: clientId, redirect_uri: app.redirect, state,
      code_challenge: challenge, code_challenge_method: 'S256', resource: `${OAUTH_BASE}/mcp`,
    });

    const rendered = await check('consent page renders: names the app, where it returns, read-only, a passphrase field', async () => {
      const response = await page.goto(authorize, { waitUntil: 'load' });
      if (response.status() !== 200) fail(`/authorize answered ${response.status()}`);
      const headers = response.headers();
      if (headers['x-frame-options'] !== 'DENY') fail(`x-frame-options: ${headers['x-frame-options']}`);
      if (headers['cache-control'] !== 'no-store') fail(`cache-control: ${headers['cache-control']}`);
      if (!/frame-ancestors 'none'/.test(headers['content-security-policy'] ?? '')) fail(`csp: ${headers['content-security-policy']}`);
      const heading = await page.locator('h1').innerText();
      if (!heading.includes('Browser Test App')) fail(`h1: ${heading}`);
      const text = await page.locator('main').innerText();
      const host = new URL(app.redirect).host;
      if (!text.includes(host)) fail(`the page does not name ${host}`);
      if (!/read-only/.test(text)) fail('the page does not say read-only');
      const field = page.getByLabel('Owner passphrase');
      if (!(await field.isVisible())) fail('no visible field labelled "Owner passphrase"');
      if ((await field.getAttribute('type')) !== 'password' || (await field.getAttribute('name')) !== 'passphrase') {
        fail('the passphrase field is not <input type=password name=passphrase>');
      }
      await shot(page, 'consent-desktop.png');
      return heading;
    });
    if (!rendered) return;

    const submit = async (passphrase) => {
      await page.getByLabel('Owner passphrase').fill(passphrase);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(`${OAUTH_BASE}/authorize`)),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      await page.waitForLoadState('load');
      return response;
    };

    const refused = await check('a wrong passphrase is refused: 401, the form again with an alert, no redirect', async () => {
      const response = await submit('not the passphrase');
      if (response.status() !== 401) fail(`the POST answered ${response.status()}`);
      if (!page.url().startsWith(`${OAUTH_BASE}/authorize`)) fail(`the browser left for ${page.url()}`);
      const alert = await page.getByRole('alert').innerText();
      if (!/not right/.test(alert)) fail(`alert: ${alert}`);
      if (app.hits.length) fail(`the app's redirect_uri was reached: ${app.hits}`);
      await shot(page, 'consent-wrong-passphrase.png');
      return alert;
    });
    if (!refused) return;

    let code = null;
    const approved = await check("the right passphrase redirects to the app's redirect_uri with a code and the state", async () => {
      await page.getByLabel('Owner passphrase').fill(OAUTH_PASSPHRASE);
      await Promise.all([
        page.waitForURL((url) => url.href.startsWith(app.redirect), { timeout: NAV_TIMEOUT }),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      const landed = new URL(page.url());
      code = landed.searchParams.get('code');
      if (!code || !code.startsWith('dv_code_')) fail(`no code in ${landed.href}`);
      if (landed.searchParams.get('state') !== state) fail(`state ${landed.searchParams.get('state')}, want ${state}`);
      if (landed.searchParams.get('iss') !== OAUTH_BASE) fail(`iss ${landed.searchParams.get('iss')}`);
      if (app.hits.length !== 1) fail(`the app's listener saw ${app.hits.length} request(s)`);
      return `${landed.origin}${landed.pathname}?code=dv_code_…&state=${state}`;
    });
    if (!approved) return;

    await check('the code from the browser buys an access token (POST /token with the PKCE verifier)', async () => {
      const answer = await fetch(`${OAUTH_BASE}/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId,
          redirect_uri: app.redirect, resource: `${OAUTH_BASE}/mcp`,
        }),
        signal: AbortSignal.timeout(TIMEOUT),
      });
      const body = await answer.json();
      if (answer.status !== 200 || !body.access_token?.startsWith('dv_at_')) fail(`${answer.status}: ${JSON.stringify(body)}`);
      return `scope ${body.scope}, expires_in ${body.expires_in}`;
    });
  } finally {
    await context.close();
    app.server.close();
  }
}

// --- main ------------------------------------------------------------------------------------

let crashed = false;
try {
  const launched = await check(`Chromium starts (${CHROMIUM})`, async () => {
    const { context, page } = await openBrowser({});
    const agent = await page.evaluate(() => navigator.userAgent);
    await context.close();
    return /(?:Headless)?Chrome\/[\d.]+/.exec(agent)?.[0] ?? agent;
  });
  if (launched) {
    await desktop();
    await phone();
    await pdfCitation();
    await consent();
  }
} catch (error) {
  crashed = true;
  console.log(`FAIL unexpected error: ${error?.stack ?? error}`);
}

if (artifacts.length) {
  console.log('artifacts:');
  for (const path of artifacts) console.log(`  ${path}`);
}
if (failures.length || crashed) {
  console.log(`${failures.length} check(s) failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('all checks passed');
