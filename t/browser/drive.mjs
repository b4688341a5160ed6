// Drive the system chromium through a plan of steps against fs's web UI and
// print what the steps read, as JSON. Used by t/t4010-ui.bats.
//
//   node drive.mjs PLAN.json   (or the plan as the argument itself)
//
// A plan: {"url": "http://127.0.0.1:PORT/", "width": 1280, "height": 900,
//          "dark": false, "browser": "chromium" or "firefox", "steps": [STEP...]}
// A step, run in order:
//   {"goto": "#/feature_views"}     load the page at that route, wait until drawn
//   {"hash": "#/lineage"}           change the route in the page, wait until drawn
//   {"type": ["#q", "conv"]}        type into an element, wait until drawn ("wait": false: don't)
//   {"click": "a[href='#/x']"}      click, wait until drawn ("wait": false: don't)
//   {"key": "Tab"}                  press a key ("wait": true: then wait until drawn)
//   {"back": true}                  the browser's Back button, wait until drawn
//   {"reload": true}                reload the page, wait until drawn
//   {"eval": "EXPR", "as": "name"}  the value of a JS expression in the page
//   {"shot": "FILE"}                a full-page screenshot
// Output: {"values": {name: value}, "console": ["error: ..."], "errors": [...],
//          "requests": [{"url", "status"}]}. Exit 0 unless a step failed;
// the caller judges the console.
import { readFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const arg = process.argv[2];
const plan = JSON.parse(arg.trim().startsWith('{') ? arg : readFileSync(arg, 'utf8'));
const out = { values: {}, console: [], errors: [], requests: [] };
// Debian's chromium, or with "browser": "firefox" Debian's firefox-esr (over WebDriver BiDi)
const browser = plan.browser === 'firefox' ? await puppeteer.launch({
	browser: 'firefox',
	executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
	headless: true,
}) : await puppeteer.launch({
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync',
		'--disable-dev-shm-usage'],
});
let status = 0;
try {
	const page = await browser.newPage();
	await page.setViewport({ width: plan.width || 1280, height: plan.height || 900 });
	if (plan.dark !== undefined)
		await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: plan.dark ? 'dark' : 'light' }]);
	page.on('console', m => {
		if (m.type() === 'error' || m.type() === 'warn')
			out.console.push(m.type() + ': ' + m.text());
	});
	page.on('pageerror', e => out.errors.push(String(e.message || e)));
	page.on('response', r => out.requests.push({ url: r.url(), status: r.status() }));
	const drawn = async () => {
		await page.waitForSelector('body[data-ready]', { timeout: 10000 });
	};
	for (const st of plan.steps) {
		if (st.goto !== undefined) {
			await page.goto(plan.url + st.goto, { waitUntil: 'load' });
			await drawn();
		} else if (st.hash !== undefined) {
			await page.evaluate(hh => {
				document.body.removeAttribute('data-ready');
				location.hash = hh;
			}, st.hash);
			await drawn();
		} else if (st.type) {
			if (st.wait !== false)
				await page.evaluate(() => document.body.removeAttribute('data-ready'));
			await page.type(st.type[0], st.type[1]);
			if (st.wait !== false)
				await drawn();
		} else if (st.click) {
			if (st.wait !== false)
				await page.evaluate(() => document.body.removeAttribute('data-ready'));
			await page.click(st.click);
			if (st.wait !== false)
				await drawn();
		} else if (st.key) {
			if (st.wait)
				await page.evaluate(() => document.body.removeAttribute('data-ready'));
			await page.keyboard.press(st.key);
			if (st.wait)
				await drawn();
		} else if (st.back) {
			await page.evaluate(() => document.body.removeAttribute('data-ready'));
			await page.goBack();
			await drawn();
		} else if (st.reload) {
			await page.reload({ waitUntil: 'load' });
			await drawn();
		} else if (st.eval) {
			out.values[st.as || st.eval] = await page.evaluate(st.eval);
		} else if (st.shot) {
			await page.screenshot({ path: st.shot, fullPage: true });
		} else {
			throw new Error('unknown step ' + JSON.stringify(st));
		}
	}
} catch (e) {
	out.failed = String(e.message || e);
	status = 1;
} finally {
	await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(status);
