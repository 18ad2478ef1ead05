"""ksef-local: invoicing with a built-in KSeF module. create_app() is the one wiring point."""
from .version import VERSION as __version__  # noqa: F401
