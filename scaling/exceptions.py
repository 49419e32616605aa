"""Exception and warning classes of the package.

Three tiers of trouble, from mild to fatal:

* a soft problem with one run (the law fits badly, c sits at a bound, ...) is a
  :class:`~scaling.fitting.single.FitStatus` on that run's result, never an exception;
* bad input data raise :class:`DataError` (a ``ValueError``) naming the run, the
  column and the row, or are recorded per run so that the other runs still fit;
* bad arguments to a function raise ``ValueError`` naming the argument.
"""

from __future__ import annotations


class DataError(ValueError):
    """An input file or table cannot be used as it is.

    The message names the file, run, column and row where they are known, and
    says how to fix the input.
    """


class OutputError(ValueError):
    """An output path would destroy something (an input, a link's target, a directory of
    the user's) or cannot be written; the message is one line naming the path."""


class FitError(RuntimeError):
    """No estimate could be computed at all (for example an empty set of runs)."""


class DataWarning(UserWarning):
    """Input that was usable but needed a decision the user should know about
    (a percent metric converted to a fraction, a run dropped, a key missing in one run)."""


class StatisticalWarning(UserWarning):
    """An estimate exists but should be read with care (for example a flat profile in c)."""


def failure(err: BaseException) -> str:
    """How a step that raised is listed among the steps not run: ``"failed with TYPE: message"``."""
    return f"failed with {type(err).__name__}: {err}"


class recorded_warnings:
    """Record the messages of the package's warnings raised inside (every occurrence, in order).

    :class:`DataWarning` and :class:`StatisticalWarning` messages are kept; the other
    warnings raised inside (numpy's RuntimeWarnings and the like) are dropped.

    Examples
    --------
    >>> import warnings
    >>> with recorded_warnings() as messages:
    ...     warnings.warn("run r1 dropped", DataWarning)
    >>> messages
    ['run r1 dropped']
    """

    def __enter__(self) -> list[str]:
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", RuntimeWarning)
        self.messages: list[str] = []
        return self.messages

    def __exit__(self, *exc) -> None:
        self.messages += [str(w.message) for w in self._caught if issubclass(w.category, (StatisticalWarning, DataWarning))]
        self._ctx.__exit__(*exc)
