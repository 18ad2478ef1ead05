"""ksef-local: invoicing with a built-in KSeF module. create_app() is the one wiring point."""
from ksef_local.version import VERSION as __version__  # noqa: F401


def create_app(*args, **kwargs):
    """Build the app (see ksef_local.app.create_app); imported lazily so the CLI starts fast."""
    from ksef_local.app import create_app as _create_app

    return _create_app(*args, **kwargs)
