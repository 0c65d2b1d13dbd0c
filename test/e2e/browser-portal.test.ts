/**
 * The whole user journey in a real headless Chromium (Debian's package, driven by playwright-core)
 * against the portal in front of a real Dovecot: sign in with the main password (checked by
 * Dovecot), turn on 2FA reading the key from the page, sign out and in with TOTP, create a
 * passcode and use it over IMAP through mailgate, use an emergency code once, revoke the passcode
 * and watch the IMAP login fail and the live session end. Screenshots go to test/artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { totpCode } from '../../src/core/totp.js';
import { createImapLogin, mailSettingsFrom, startPortal, type PortalHandle } from '../../src/portal/index.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { CHROMIUM, CHROMIUM_ARGS as ARGS, describeChromium } from '../support/chromium.js';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';

const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
const ALICE = { user: 'alice@example.com', password: 'alice-main-pw' };

/** Chromium and Dovecot: this journey signs in against the real IMAP server. */
const describeBrowser = (name: string, fn: () => void) => describeChromium(name, fn, (n, f) => describeInterop(n, ['dovecot'], f));

describeBrowser('portal in a real browser', () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let portal: PortalHandle;
  let browser: Browser;
  let codes: string[] = [];

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const imap = (pass: string) => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca) },
      auth: { user: ALICE.user, pass },
      logger: false,
      disableAutoIdle: true,
    });
    c.on('error', () => {});
    return c;
  };
  const imapLoginWorks = async (pass: string) => {
    const c = imap(pass);
    try {
      await c.connect();
      await c.logout();
      return true;
    } catch {
      return false;
    } finally {
      c.close();
    }
  };
  const signIn = async (page: Page, password = ALICE.password) => {
    await page.goto(`${portal.url}signin`);
    await page.getByLabel('Email address').fill(ALICE.user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  const signOut = (page: Page) => page.getByRole('button', { name: 'Sign out' }).click();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dovecot = await startDovecot({
      users: [ALICE],
      messages: [{ user: ALICE.user, raw: 'From: x@example.org\r\nSubject: hello from dovecot\r\n\r\nhi\r\n' }],
    });
    gate = await startGate(dovecot, { policy: { enforce: [] } }); // alice opts in herself
    const core = gate.server.core;
    const config = core.config;
    portal = await startPortal({
      identity: core.identity,
      store: core.store,
      manager: core.manager,
      hasher: core.hasher,
      keys: core.keys,
      clock: core.clock,
      sessions: core.sessions,
      portal: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: null, trustedProxies: [], firstEnrolment: 'open' },
      admin: config.admin,
      policy: config.policy,
      mail: mailSettingsFrom(config, { imap: gate.server.imap?.addresses }, '127.0.0.1'),
      imapLogin: createImapLogin(config.imap!.upstream),
      log: gate.server.log,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.close();
    await gate?.close();
    await dovecot?.stop();
  });

  it('enrols, signs in with TOTP, uses a passcode over IMAP, an emergency code once, and revokes', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await ctx.newPage();

    await signIn(page);
    await page.getByRole('heading', { name: 'Your mail account security' }).waitFor();
    await shot(page, '02-home-2fa-off');

    await page.getByRole('link', { name: 'Turn on two-factor authentication' }).click();
    await page.getByText('Cannot scan? Type the key instead').click();
    const secret = (await page.locator('#manual-key').textContent())!.replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await shot(page, '03-enable');
    await page.getByLabel('6-digit code').fill(totpCode(secret, Date.now()));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication is on' }).waitFor();
    codes = await page.locator('#codes li').allTextContents();
    expect(codes).toHaveLength(10);
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download as a text file' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toBe('emergency-codes-alice@example.com.txt');
    expect(readFileSync(await file.path(), 'utf8')).toContain(` 1. ${codes[0]}`);
    expect(await page.getByRole('button', { name: 'Print' }).isVisible()).toBe(true);
    await shot(page, '04-emergency-codes');
    expect(await imapLoginWorks(ALICE.password)).toBe(false); // enforced now: the main password no longer opens IMAP

    await signOut(page);
    await signIn(page);
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
    await shot(page, '05-verify');
    // The enrolment spent the current step; the next step's code is within the ±1 window and unused.
    await page.getByLabel('Code from your authenticator app').fill(totpCode(secret, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your mail account security' }).waitFor();
    await shot(page, '06-home-2fa-on');

    await page.getByRole('link', { name: 'Manage app passcodes' }).click();
    await page.getByLabel('Name').fill('Thunderbird on my laptop');
    await page.getByRole('button', { name: 'Create passcode' }).click();
    const passcode = (await page.locator('#passcode').textContent())!;
    expect(passcode).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
    expect(await page.getByRole('button', { name: 'Copy' }).isVisible()).toBe(true); // JS enhancement present
    await expect.poll(() => page.locator('dl.settings').textContent()).toContain(`127.0.0.1, port ${gate.imapsPort}, SSL/TLS`);
    await shot(page, '07-passcode-created');

    const live = imap(passcode);
    await live.connect().catch((e: { responseText?: string; message: string }) => {
      throw new Error(`IMAP login with the new passcode failed: ${e.responseText ?? e.message}\n${gate.logs().slice(-3000)}`);
    });
    expect((await live.mailboxOpen('INBOX')).exists).toBe(1);
    const ended = new Promise<void>((res) => live.on('close', () => res()));

    await page.getByRole('link', { name: 'Done' }).click();
    await expect.poll(() => page.locator('ul.pclist').first().textContent()).toContain('1 open connection');
    await shot(page, '08-passcodes-list');
    await page.getByRole('link', { name: 'Revoke Thunderbird on my laptop' }).click();
    await shot(page, '09-revoke-confirm');
    const revokedAt = Date.now();
    await page.getByRole('button', { name: 'Revoke passcode' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('1 open connection was closed');
    await ended;
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    await shot(page, '10-revoked');
    expect(await imapLoginWorks(passcode)).toBe(false);

    await signOut(page);
    await signIn(page);
    await page.getByLabel('Code from your authenticator app').fill(codes[0]!);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('You signed in with an emergency code');
    await shot(page, '11-emergency-used');
    await signOut(page);
    await signIn(page);
    await page.getByLabel('Code from your authenticator app').fill(codes[0]!);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('.field-error').textContent()).toContain('already used');
    await shot(page, '12-emergency-reused');
    await page.getByRole('button', { name: 'Cancel and sign out' }).click();

    // Last, because Dovecot's anvil then slows further logins from 127.0.0.1 (mailgate's master
    // logins included) for a while.
    await signIn(page, 'not-the-password');
    await expect.poll(() => page.locator('.field-error').textContent()).toContain('do not match');
    await shot(page, '01-signin-error');
    await ctx.close();
  }, 90_000);

  it('reads well on a phone and works without JavaScript', async () => {
    const ctx = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      javaScriptEnabled: false,
    });
    const page = await ctx.newPage();
    await page.goto(`${portal.url}signin`);
    await shot(page, '13-phone-signin');
    await signIn(page);
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor(); // forms post and redirect without JS
    await shot(page, '14-phone-verify');
    await page.getByLabel('Code from your authenticator app').fill(codes[1]!);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your mail account security' }).waitFor();
    await shot(page, '15-phone-home');
    await page.getByRole('link', { name: 'Manage app passcodes' }).click();
    await page.getByLabel('Name').fill('iPhone Mail');
    await page.getByRole('button', { name: 'Create passcode' }).click();
    await page.getByRole('heading', { name: 'Your new passcode' }).waitFor();
    expect(await page.getByRole('button', { name: 'Copy' }).isVisible()).toBe(false); // no JS: no dead button
    await shot(page, '16-phone-passcode-created');
    await page.getByRole('link', { name: 'Done' }).click();
    await shot(page, '17-phone-passcodes');
    await ctx.close();
  }, 60_000);
});
