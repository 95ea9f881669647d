"""Progress bars for long work: tqdm (``tqdm.auto``: a widget in Jupyter, text on stderr elsewhere).

Library functions take a ``progress(done, total)`` callback and print nothing; the
command line and :func:`sparsesim.sweep` pass a :class:`Progress`, which draws a tqdm
bar on stderr, also when stderr is not a terminal (a log file shows the final line),
unless disabled (``-q``).
"""

from __future__ import annotations

import sys


class Progress:
    """A ``progress(done, total)`` callback drawing one tqdm bar; ``enabled=False`` draws nothing."""

    def __init__(self, desc: str, enabled: bool = True, unit: str = "it"):
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            # on a terminal redraw often; into a file or pipe, rarely (a few lines in a log)
            tty = sys.stderr.isatty()
            self.bar = tqdm(total=total, initial=done, desc=self.desc, unit=self.unit, file=sys.stderr,
                            dynamic_ncols=tty, mininterval=0.1 if tty else 10.0, leave=True)
        else:
            self.bar.total = total
            self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def steps(iterable, desc: str, enabled: bool = True, total: int | None = None):
    """Iterate with a tqdm bar on stderr (nothing drawn when ``enabled`` is false)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not enabled, file=sys.stderr,
                mininterval=0.1 if sys.stderr.isatty() else 10.0)
