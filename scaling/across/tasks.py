"""Results kept per task: one mixin for the collections of stage 2 (curves or per-model tables)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class ByTask:
    """A collection of per-task results in ``self.results`` (task -> result), in fitting order.

    Indexing by task name (a ``KeyError`` names the tasks there are), iteration over the results,
    ``len`` and :attr:`tasks`.  Used by :class:`scaling.across.predict.AcrossResults` and
    :class:`scaling.across.summaries.SummaryResults`.
    """

    results: dict

    def __getitem__(self, task: str) -> Any:
        try:
            return self.results[task]
        except KeyError:
            raise KeyError(f"no task {task!r}; tasks are {list(self.results)}") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results.values())

    def __len__(self) -> int:
        return len(self.results)

    @property
    def tasks(self) -> list[str]:
        """The task names, in fitting order."""
        return list(self.results)
