import sys

from codecbench.cli import main

if __name__ == "__main__":  # not when a worker process (Dask's spawn) imports this module
    sys.exit(main())
