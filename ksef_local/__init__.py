"""ksef-local: invoicing with a built-in KSeF module. ksef_local.app.create_app() is the one wiring point."""
from ksef_local.version import VERSION as __version__  # noqa: F401
