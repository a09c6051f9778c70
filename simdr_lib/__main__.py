"""``python -m simdr_lib`` = ``simdr`` (also the script path for paddle.distributed.launch)."""

import sys

from simdr_lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
