import sys

from luckybag.cli import main

sys.exit(main())
