"""`python -m luckybag`: the luckybag command."""

import sys

from luckybag.cli import main

sys.exit(main())
