/**
 * The defects of a walk through the portal in Chromium, each replayed in a real browser against
 * the portal harness (a fake password check, a real store): double clicks and reloads that acted
 * twice, a long name that widened the page, an error under the wrong field, what the revoked list
 * and notice say, admin-made passcodes an account without 2FA could not see, dark mode.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { totpCode } from '../../src/core/totp.js';
import { CHROMIUM, CHROMIUM_ARGS, describeChromium } from '../support/chromium.js';
import { PASSWORDS, startHarness, type Harness } from './portal-harness.js';

const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const LONG = 'x'.repeat(100);

describeChromium('portal defects in a real browser', () => {
  let h: Harness;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  const open = async (o: { width?: number; js?: boolean; dark?: boolean; tz?: string } = {}) => {
    const ctx = await browser.newContext({
      viewport: { width: o.width ?? 1280, height: 800 },
      javaScriptEnabled: o.js ?? true,
      colorScheme: o.dark ? 'dark' : 'light',
      ...(o.tz ? { timezoneId: o.tz, locale: 'de-DE' } : {}),
    });
    contexts.push(ctx);
    return ctx.newPage();
  };
  const signIn = async (page: Page, user = ALICE) => {
    await page.goto(`${h.url}/signin`);
    await page.getByLabel('Email address').fill(user);
    await page.getByLabel('Password').fill(PASSWORDS[user]!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Your mail account security|Enter your code/ }).waitFor();
  };
  const verify = async (page: Page, secret: string) => {
    h.clock.t += 30_000;
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, h.clock.now()));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your mail account security' }).waitFor();
  };
  /**
   * Two clicks on a submit button, the second once the first POST is on its way: a slow double
   * click (playwright's dblclick is so fast that Chromium folds it into one navigation).
   */
  const doubleSubmit = async (page: Page, button: string) => {
    // Every POST is held on its way out until the second click has been made (a slow server), so
    // the second click surely lands on the same form: a fixed hold (400 ms) was not enough under CI
    // load — the first answer had navigated away and the click hit the next page. Without
    // JavaScript the second submit then replaces the held first one, so one POST reaches the server
    // here; two concurrent POSTs with one form token are test/e2e/portal-devices.test.ts's case.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    await page.route('**/*', async (route) => {
      if (route.request().method() === 'POST') await held;
      await route.continue().catch(() => undefined); // the navigation the second submit replaced
    });
    const target = page.getByRole('button', { name: button });
    await target.scrollIntoViewIfNeeded();
    const box = (await target.boundingBox())!;
    const first = page.waitForRequest((r) => r.method() === 'POST');
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const firstPost = await first;
    // Without JavaScript the second click posts again: wait for that request (with JavaScript the
    // button is disabled and none comes — the wait ends by its timeout).
    const second = page.waitForRequest((r) => r.method() === 'POST' && r !== firstPost, { timeout: 3_000 }).catch(() => null);
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await second;
    release();
    await page.waitForLoadState('load');
    await page.unroute('**/*');
  };
  const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startHarness();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await h?.close();
  });

  let secret = '';
  /** The signed-in pages of the first test (alice with JavaScript, bob without), reused by the second. */
  const signedIn = new Map<boolean, Page>();
  it('double-clicking "Turn on" turns 2FA on once and shows the codes once; a reload makes no new set', async () => {
    for (const js of [true, false]) {
      // JS on: the first submit disables the button. JS off: both posts reach the server, which acts once.
      const user = js ? ALICE : BOB;
      const page = await open({ js });
      await signIn(page, user);
      await page.goto(`${h.url}/enable`);
      await page.getByText('Cannot scan? Type the key instead').click();
      const key = (await page.locator('#manual-key').textContent())!.replace(/\s/g, '');
      await page.getByLabel('6-digit code').fill(totpCode(key, h.clock.now()));
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(r.url());
      });
      await doubleSubmit(page, 'Turn on');
      await page.getByRole('heading', { name: 'Two-factor authentication is on' }).waitFor();
      const codes = await page.locator('#codes li').allTextContents();
      expect(codes, `js=${js}`).toHaveLength(10);
      expect(posts, 'JavaScript disables the button; without it both clicks post').toHaveLength(js ? 1 : 2);
      expect(await page.getByText('This setup took too long').count()).toBe(0);
      const stored = await h.store.listEmergencyCodes(user);
      expect(stored).toHaveLength(10);
      await page.reload();
      await page.getByText('were shown once').waitFor();
      expect(await page.locator('#codes li').count()).toBe(0);
      expect(await h.store.listEmergencyCodes(user)).toEqual(stored); // the printed set still works
      if (js) secret = key;
      signedIn.set(js, page);
    }
  });

  it('double-clicking "Create passcode" makes exactly one and shows it; back and forward do not make another', async () => {
    for (const js of [true, false]) {
      const user = js ? ALICE : BOB;
      const page = signedIn.get(js)!;
      const before = (await h.manager.listPasscodes(user)).length;
      await page.goto(`${h.url}/passcodes`);
      await page.getByLabel('Name').fill(`Laptop ${js ? 'js' : 'nojs'}`);
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(r.url());
      });
      await doubleSubmit(page, 'Create passcode');
      await page.getByRole('heading', { name: 'Your new passcode' }).waitFor();
      expect(await page.locator('#passcode').textContent()).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
      expect((await h.manager.listPasscodes(user)).length, `js=${js}`).toBe(before + 1);
      expect(posts).toHaveLength(js ? 1 : 2);
      await page.getByRole('link', { name: 'Done' }).click();
      await page.goBack();
      await page.goBack();
      await page.goForward();
      await page.goForward();
      expect((await h.manager.listPasscodes(user)).length).toBe(before + 1);
      await page.goto(`${h.url}/passcodes`);
    }
  }, 60_000);

  it('a 100-character name without spaces does not widen the page at 390 px or 1280 px', async () => {
    await h.manager.createPasscode(ALICE, { name: LONG, scopes: ['imap'] }, 'test');
    for (const width of [390, 1280]) {
      const page = await open({ width });
      await signIn(page);
      await verify(page, secret);
      await page.goto(`${h.url}/passcodes`);
      expect(await overflow(page), `list at ${width}`).toBeLessThanOrEqual(0);
      await shot(page, `20-long-name-${width}`);
      const [pc] = (await h.manager.listPasscodes(ALICE)).filter((p) => p.name === LONG);
      await page.goto(`${h.url}/revoke?id=${pc!.id}`);
      expect(await overflow(page), `revoke at ${width}`).toBeLessThanOrEqual(0);
      await page.goto(`${h.url}/passcodes`);
      await page.getByLabel('Name').fill(`y${LONG.slice(1)}`);
      await page.getByRole('button', { name: 'Create passcode' }).click();
      await page.getByRole('heading', { name: 'Your new passcode' }).waitFor();
      expect(await overflow(page), `created at ${width}`).toBeLessThanOrEqual(0);
    }
  }, 60_000);

  it('puts each sign-in error under its own field, with the focus there', async () => {
    const page = await open();
    await page.goto(`${h.url}/signin`);
    await page.getByLabel('Password').fill('something');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.field-error').waitFor();
    expect(await page.locator('.field:has(#f-username) .field-error').textContent()).toContain('Enter your email address');
    expect(await page.locator('.field:has(#f-password) .field-error').count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-username');
    await page.getByLabel('Email address').fill(ALICE);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.field:has(#f-password) .field-error').waitFor();
    expect(await page.locator('.field:has(#f-password) .field-error').textContent()).toContain('Enter your password');
    expect(await page.locator('.field:has(#f-username) .field-error').count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-password');
  });

  it('says which passcode was revoked, and when, in one locale', async () => {
    const page = await open({ tz: 'Asia/Tokyo' }); // a German browser in Tokyo: English dates, Tokyo time
    await signIn(page);
    await verify(page, secret);
    const made = await h.manager.createPasscode(ALICE, { name: 'Old phone', scopes: ['imap'] }, 'test');
    await h.store.recordPasscodeUse(made.info.id, h.clock.now(), '127.0.0.1', '[127.0.0.1]'); // an SMTP EHLO literal
    await page.goto(`${h.url}/passcodes`);
    expect(await page.locator('li.pc', { hasText: 'Old phone' }).textContent()).not.toContain('([127.0.0.1])');
    await page.getByRole('link', { name: 'Revoke Old phone' }).click();
    await page.getByRole('button', { name: 'Revoke passcode' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Passcode “Old phone” revoked');
    await page.getByText(/Revoked and expired/).click();
    const row = page.locator('li.pc', { hasText: 'Old phone' });
    const when = row.locator('time').last();
    expect(await row.textContent()).toMatch(/Revoked /);
    expect(await when.getAttribute('datetime')).toBe(new Date(h.clock.now()).toISOString());
    const local = new Intl.DateTimeFormat('en', { timeZone: 'Asia/Tokyo', year: 'numeric', month: 'short', day: 'numeric' }).format(
      h.clock.now(),
    );
    expect(await when.textContent()).toMatch(new RegExp(`^${local}, \\d\\d:\\d\\d [AP]M GMT\\+9$`));
    await shot(page, '21-revoked');
  });

  it('shows an account without 2FA the passcodes an admin made, and lets it revoke them', async () => {
    PASSWORDS[CAROL] = 'carol-main-pw'; // the harness's password check reads this table
    const made = await h.manager.createPasscode(CAROL, { name: 'Made by the admin', scopes: ['imap'] }, 'cli');
    const page = await open();
    await signIn(page, CAROL);
    await page.getByRole('heading', { name: 'Your mail account security' }).waitFor(); // no 2FA: straight in
    await page.getByRole('link', { name: 'See your app passcodes' }).click();
    await page.getByRole('heading', { name: 'App passcodes' }).waitFor();
    expect(await page.getByRole('button', { name: 'Create passcode' }).count()).toBe(0); // creating still needs 2FA
    await page.getByRole('link', { name: 'Revoke Made by the admin' }).click();
    await page.getByRole('button', { name: 'Revoke passcode' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Passcode “Made by the admin” revoked');
    expect((await h.manager.listPasscodes(CAROL)).map((p) => [p.id, p.status])).toEqual([[made.info.id, 'revoked']]);
  });

  it('follows the dark colour scheme', async () => {
    const page = await open({ dark: true });
    await page.goto(`${h.url}/signin`);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g)!.map(Number);
    expect(r! + g! + b!).toBeLessThan(150);
    await shot(page, '22-dark-signin');
  });
});
