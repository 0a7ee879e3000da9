"""Runs lab test modules as one ctest test: where the lab cannot run here (not root, no
/dev/net/tun, a tool missing), prints why and exits 77, which ctest reports as skipped (never as
passed). scripts/test, run as root, counts a skipped lab tier as a failure.

    python3 run_tier.py test_lab test_dnsleak_client
"""
import sys
import unittest

from leaklab import LabError, preflight

SKIPPED = 77


def main(modules):
    try:
        preflight()
    except LabError as e:
        print("lab tier skipped: %s" % e, file=sys.stderr)
        return SKIPPED
    suite = unittest.defaultTestLoader.loadTestsFromNames(modules)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if result.testsRun == 0:
        print("lab tier ran no test", file=sys.stderr)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
