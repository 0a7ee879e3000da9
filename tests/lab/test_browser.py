"""The browser tier: headless Chromium (Debian's, driven by Debian's chromedriver and selenium) in the
lab's client namespace runs the leak-test page for real. Needs root, like the lab."""
import json
import os
import unittest

import scenarios
from leaklab import ROOT, VPN_DNS4, Lab


class LeakPageInChromium(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.lab.up()

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def test_browser_page_shows_the_resolvers_and_the_verdict(self):
        # Headless Chromium in the client namespace opens the page, runs a standard test and must
        # show the VPN resolver and no leak in the clean scenario, the ISP resolver and a leak in
        # the leaking one. Screenshots land in build/test-artifacts/.
        artifacts = os.path.join(ROOT, "build", "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        script = os.path.join(ROOT, "tests", "browser", "leak_page.py")
        for key, outcome, resolver in (("no-leak", "no_leak", VPN_DNS4), ("full-leak", "leak", "10.77.10.53")):
            with self.subTest(scenario=key):
                self.lab.reset_client()
                scenarios.by_key(key).apply(self.lab)
                screenshot = os.path.join(artifacts, "browser-%s.png" % key)
                # Debian's python3, which has Debian's selenium (a python3 earlier on PATH may not).
                result = self.lab.sh("client", "/usr/bin/python3", script, "http://leak.test/", screenshot,
                                     check=False, timeout=120)
                self.assertEqual(result.returncode, 0, result.stderr[-2000:])
                shown = json.loads(result.stdout)
                self.assertEqual(shown["outcome"], outcome, shown)
                self.assertIn(resolver, [row[0] for row in shown["resolvers"]])
                self.assertTrue(shown["share"].startswith("http://leak.test/#"), shown)
                if outcome == "leak":  # every leak comes with what to do about it
                    self.assertTrue(any(f.startswith("What to do: ") for f in shown["fixes"]), shown)
                self.assertGreater(os.path.getsize(screenshot), 10000)
        self.lab.reset_client()

