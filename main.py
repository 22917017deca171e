"""Start the Workbench GUI: `python main.py [PROJECT]`."""

import sys

from workbench.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
