import sys

from codecbench.cli import main

sys.exit(main())
