"""python -m ksef_local: the same as the ksef-local command."""
import sys

from .cli import main

sys.exit(main())
