"""`python -m luckybag`: the luckybag command."""

from luckybag.cli import main

raise SystemExit(main())
