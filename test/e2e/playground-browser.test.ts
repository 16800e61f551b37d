import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Playground, startPlayground } from '../../src/playground/playground.js';

const CHROMIUM = '/usr/bin/chromium';

/**
 * The playground in a real headless Chromium (Debian's, driven by playwright-core): type a
 * message, watch the card stream in, press Stop on a running turn. Offline mode: the real codex
 * binary against the scripted mock model, larkcode on the real node-sdk against the emulator.
 */
describe('playground in a browser', () => {
  let playground: Playground;
  let browser: Browser;

  beforeAll(async () => {
    // Installed by .ci/run (Debian's chromium); a missing browser is a broken setup, not a skip.
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`).toBe(true);
    playground = await startPlayground({
      offline: true,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      logger: pino({ level: 'silent' }),
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await playground?.stop();
  });

  it('sends a message, shows the streamed card with its parts, and Stop interrupts a running turn', async () => {
    expect(playground.mode).toBe('offline');
    const page = await browser.newPage();
    await page.goto(playground.url);
    const header = await page.locator('header').innerText();
    expect(header).toContain('local playground');
    expect(header).toContain('Offline demo');

    await page.fill('#text', 'show me everything [[rich]]');
    await page.click('form button[type=submit]');
    const done = page.locator('.card', { hasText: '✅ Done' });
    await done.waitFor({ timeout: 20_000 });
    expect(await done.locator('summary').first().isVisible()).toBe(true);
    const text = await done.innerText();
    expect(text).toContain('Reasoning');
    expect(text).toMatch(/exit 0/);
    expect(text).toMatch(/exit 3/);
    expect(text).toContain('Edited 1 file');
    // The user's message shows its reaction.
    await page.locator('.msg.user .reactions', { hasText: 'DONE' }).first().waitFor({ timeout: 5_000 });

    await page.fill('#text', 'a long job [[hang]]');
    await page.click('form button[type=submit]');
    const stop = page.locator('button.card-button', { hasText: 'Stop' });
    await stop.waitFor({ timeout: 20_000 });
    // Wait for the run to have started (the card leaves "Starting"), then press Stop.
    await page.locator('.card', { hasText: 'Thinking' }).waitFor({ timeout: 20_000 });
    await page
      .locator('.card', { hasText: 'Thinking' })
      .locator('button.card-button', { hasText: 'Stop' })
      .click();
    await page.locator('#toast', { hasText: 'Stopping the run' }).waitFor({ timeout: 5_000 });
    await page.locator('.card', { hasText: '⏹ Interrupted' }).waitFor({ timeout: 10_000 });
    await page.close();
  }, 60_000);

  it('an approval card: Approve in the page, the command runs, the run finishes', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'larkcode-playground-outside-'));
    const target = join(outside, 'approved.txt');
    try {
      const page = await browser.newPage();
      await page.goto(playground.url);
      await page.locator('.card', { hasText: '⏹ Interrupted' }).waitFor({ timeout: 10_000 });
      const doneBefore = await page.locator('.card', { hasText: '✅ Done' }).count();
      await page.fill('#text', `[[escalate: echo from-the-page > ${target}]]`);
      await page.click('form button[type=submit]');
      const ask = page.locator('.card', { hasText: 'Approval needed' });
      await ask.waitFor({ timeout: 20_000 });
      expect(await ask.innerText()).toContain(`echo from-the-page > ${target}`);
      await page.locator('.card', { hasText: 'Waiting for approval' }).first().waitFor({ timeout: 10_000 });
      await ask.locator('button.card-button', { hasText: 'Approve' }).click();
      await page.locator('#toast', { hasText: 'Approved' }).waitFor({ timeout: 5_000 });
      await page.locator('.card', { hasText: '✅ Done' }).nth(doneBefore).waitFor({ timeout: 20_000 });
      await page.locator('.card', { hasText: '✅ Approved' }).waitFor({ timeout: 10_000 });
      expect(readFileSync(target, 'utf8').trim()).toBe('from-the-page');
      await page.close();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  }, 60_000);
});
