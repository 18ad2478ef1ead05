"""python -m ksef_local: the same as the ksef-local command."""
import sys

from ksef_local.cli import main

sys.exit(main())
