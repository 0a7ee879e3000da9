#!/usr/bin/env python3
"""Opens the leak-test page in headless Chromium, runs a standard test, waits for the verdict and
prints what the page shows as JSON; saves a full-page screenshot. Debian's Chromium is driven by
Debian's chromedriver through Debian's python3-selenium (the three versions are matched by Debian,
no browser or driver from elsewhere). Meant to run inside the lab's client namespace:

    python3 leak_page.py URL SCREENSHOT.png
"""
import base64
import json
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

PHONE = (412, 915)  # a phone's screen, CSS pixels

SHOWN = """
const verdict = document.querySelector("#verdict");
return {
  outcome: verdict.dataset.outcome,
  verdict: verdict.textContent,
  findings: [...document.querySelectorAll("#findings li")].map((li) => li.textContent),
  fixes: [...document.querySelectorAll("#findings li .fix")].map((p) => p.textContent),
  resolvers: [...document.querySelectorAll("#resolvers tr")].map((tr) => [...tr.children].map((td) => td.textContent)),
  egress: [...document.querySelectorAll("#egress li")].map((li) => li.textContent),
  share: document.querySelector("#share-link").href,
  status: document.querySelector("#status").textContent,
};
"""


def main(argv):
    if len(argv) != 3:
        print("usage: leak_page.py URL SCREENSHOT.png", file=sys.stderr)
        return 2
    url, screenshot = argv[1], argv[2]
    profile = tempfile.mkdtemp(prefix="dnsleak-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--user-data-dir=" + profile, "--window-size=%d,%d" % PHONE,
                 # Plain-HTTP pages in the lab: no HTTPS upgrade attempts first.
                 "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"):
        options.add_argument(flag)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.get(url)
        WebDriverWait(driver, 10).until(expected_conditions.element_to_be_clickable((By.ID, "standard"))).click()
        WebDriverWait(driver, 30).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#verdict[data-outcome]")))
        shown = driver.execute_script(SHOWN)
        # The whole page, beyond the phone's viewport.
        content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1}})
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(json.dumps(shown))
        return 0
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
