"""The ``scaling`` command: thin commands over the public API.

:mod:`scaling.cli.main` holds the app and the options shared by the commands; the other modules
add their commands to it when imported, which this package does once.  The command modules
import the library (pandas, scipy, statsmodels, matplotlib) inside the commands, so that
``scaling --help`` loads little more than Typer.
"""

import os

from scaling.cli import across, forecast, report  # noqa: F401  (each registers its commands)
from scaling.cli.main import app

__all__ = ["app", "main"]

#: BLAS thread pools the command limits to one thread unless the environment says otherwise.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:  # pragma: no cover - console-script entry point
    """Entry point of the ``scaling`` console script.

    The linear algebra here is many small matrices (bootstrap and batch fits), which a
    multi-threaded BLAS runs slower than one thread does; numpy is imported by the commands,
    after this, so one thread applies unless the user set these variables.
    """
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")
    app()
