"""kill -9 during voucher spending, 20 runs: ``_crash.py`` runs the crash test in its long mode."""

import sys

from _crash import main

if __name__ == "__main__":
    sys.exit(main(["tests/adversarial/test_crash_vouchers.py"]))
