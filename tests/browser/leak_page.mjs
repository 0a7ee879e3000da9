// Opens the leak-test page in headless Chromium (Debian's, driven by playwright-core), runs a
// standard test, waits for the verdict and prints what the page shows as JSON; saves a
// screenshot. Meant to run inside the lab's client namespace:
//   node leak_page.mjs URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node leak_page.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const home = process.env.HOME || "/tmp";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // Plain-HTTP pages in the lab: no HTTPS upgrade attempts first.
    "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
  ],
  env: { ...process.env, HOME: home },
  timeout: 30000,
});
try {
  const page = await browser.newPage({ viewport: { width: 412, height: 915 } });  // a phone's screen
  await page.goto(url, { timeout: 20000 });
  await page.click("#standard");
  await page.waitForSelector("#verdict[data-outcome]", { timeout: 30000 });
  const shown = await page.evaluate(() => ({
    outcome: document.querySelector("#verdict").dataset.outcome,
    verdict: document.querySelector("#verdict").textContent,
    findings: [...document.querySelectorAll("#findings li")].map((li) => li.textContent),
    resolvers: [...document.querySelectorAll("#resolvers tr")].map((tr) => [...tr.children].map((td) => td.textContent)),
    egress: [...document.querySelectorAll("#egress li")].map((li) => li.textContent),
    share: document.querySelector("#share-link").href,
    status: document.querySelector("#status").textContent,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
