#!/usr/bin/env python3
"""smtp_data_milter.py: tests/sessions/smtp_data.py again with an accept-all mail
filter in the path of every SMTP session (issue 15; see milter_path.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milter_path  # noqa: E402

if __name__ == "__main__":
    sys.exit(milter_path.main("smtp_data.py"))
