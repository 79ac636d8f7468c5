import sys

from dann_core.cli import main

sys.exit(main())
