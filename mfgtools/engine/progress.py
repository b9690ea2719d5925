"""Progress reports that suit where they are shown.

- a terminal: a live tqdm bar on stderr;
- a Jupyter notebook: tqdm's widget when ipywidgets is installed, else the
  plain bar written to the cell's output (no ``IProgress not found`` warning);
- anything else (a log file, a pipe): one line per interval on stderr, never
  carriage-return frames.

``progress=None`` (the default of :func:`mfgtools.solve` and friends) shows a
report only where a person is watching: a terminal or a notebook.
"""

from __future__ import annotations

import sys
import time

LOG_INTERVAL = 10.0  # seconds between two lines of a log report


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (ipykernel's shell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001  (any IPython oddity: not a notebook)
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def watched() -> bool:
    """Whether a person is watching: a terminal on stderr, or a notebook."""
    return _stderr_is_terminal() or in_notebook()


def wanted(progress) -> bool:
    """``progress`` resolved: True/False as given, None: :func:`watched`."""
    return watched() if progress is None else bool(progress)


class LogReport:
    """A line after the first chunk, then one per :data:`LOG_INTERVAL` seconds and a last one (logs, pipes)."""

    def __init__(self, total: int, label: str, stream=None, interval: float = LOG_INTERVAL):
        self.total, self.label, self.n = total, label, 0
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self.start = self.last = time.perf_counter()
        self.postfix = ""
        self.lines = 0

    def update(self, count: int) -> None:
        self.n += count
        now = time.perf_counter()
        if now - self.last >= self.interval or not self.lines:  # the first line says the iterations run
            self._line(now)

    def set_postfix(self, values: dict) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def _line(self, now) -> None:
        self.last = now
        self.lines += 1
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        tail = f", {self.postfix}" if self.postfix else ""
        print(
            f"{self.label}: {self.n}/{self.total} it{share}, {now - self.start:.1f} s{tail}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        self._line(time.perf_counter())


def make_report(total: int, label: str, progress):
    """A progress report for ``total`` iterations, or None when ``progress`` resolves to off."""
    if not wanted(progress):
        return None
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401  (tqdm's widget needs it)
            from tqdm.notebook import tqdm
        except ImportError:
            from tqdm.std import tqdm

            return tqdm(total=total, desc=label, unit="it", file=sys.stdout, mininterval=0.5, ncols=100)
        return tqdm(total=total, desc=label, unit="it")
    if _stderr_is_terminal():
        from tqdm.std import tqdm

        return tqdm(total=total, desc=label, unit="it", dynamic_ncols=True)
    return LogReport(total, label)


__all__ = ["make_report", "wanted", "watched", "in_notebook", "LogReport", "LOG_INTERVAL"]
