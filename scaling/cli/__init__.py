"""The ``scaling`` command: thin commands over the public API.

:mod:`scaling.cli.main` holds the app and the options shared by the commands; the other modules
add their commands to it when imported, which this package does once.  The command modules
import the library (pandas, scipy, statsmodels, matplotlib) inside the commands, so that
``scaling --help`` loads little more than Typer.
"""

from scaling.cli import across, forecast, report  # noqa: F401  (each registers its commands)
from scaling.cli.main import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console-script entry point
    """Entry point of the ``scaling`` console script."""
    app()
