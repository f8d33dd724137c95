"""Run the suite for ``tokenconform run``: ``pytest.main`` isolated from the user's pytest setup.

No ini file, no conftest, no cache, no auto-loaded plugins, no ``PYTEST_ADDOPTS``: the CLI's
result must not depend on the directory it is started in. A collector plugin receives the
``RunResult`` (``pytest_tokenconform_finished``) and draws the progress line while token
lifetimes run out; pytest's own terminal output is kept in a buffer (it is not the report).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import plugin as _plugin
from .errors import TokenconformError

if TYPE_CHECKING:
    from .results import CheckResult, RunResult

__all__ = ["execute", "pytest_argv"]

#: environment variables through which a user's pytest setup would leak into our run
_PYTEST_ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")
#: set while pytest runs: plugins installed in the environment (pytest-profiling, xdist, ...) stay out
_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


@dataclass
class _Collector:
    """The plugin object ``tokenconform run`` hands to pytest.main: gathers the run, shows progress."""

    progress: TextIO | None = None
    run: RunResult | None = None
    _shown: int = 0

    def pytest_tokenconform_result(self, result: CheckResult) -> None:
        self._clear()

    def pytest_tokenconform_waiting(self, done: int, total: int, waiting_for: str, seconds_left: float) -> None:
        if self.progress is None:
            return
        from .reporting.terminal import progress_line

        line = progress_line(done, total, waiting_for, seconds_left)
        self.progress.write("\r" + line)
        self.progress.flush()
        self._shown = max(self._shown, len(line))

    def pytest_tokenconform_finished(self, run: RunResult) -> None:
        self._clear()
        self.run = run

    def _clear(self) -> None:
        if self.progress is not None and self._shown:
            self.progress.write("\r" + " " * self._shown + "\r")
            self.progress.flush()
            self._shown = 0


def pytest_argv(namespace: argparse.Namespace, target: str, profile: str, workdir: str) -> list[str]:
    """The argv of the isolated pytest run (``workdir`` holds the empty ini and is the rootdir).

    Report options stay with the CLI, which writes the reports itself after the terminal report.
    """
    ini = os.path.join(workdir, "pytest.ini")
    argv = [
        # Isolation from the user's pytest setup: our own empty ini and rootdir, no conftest, only
        # our plugin (auto-loading is off: _isolated_environment), no cache directory.
        "-c", ini,
        "--rootdir", workdir,
        "--noconftest",
        "-p", "tokenconform.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:faulthandler",
        "-p", "no:pastebin",
        "-p", "no:doctest",
        "-p", "no:stepwise",
        # No assertion rewriting: the suite raises its outcomes, and this process has imported
        # tokenconform.plugin already (rewriting it would only warn).
        "--assert=plain",
        # pytest's own output goes to a buffer; keep it short and free of tracebacks and colour.
        "-q", "--tb=line", "--color=no",
        "--pyargs", _plugin.SUITE_MODULE,
        _plugin.OPT_TARGET, target,
        _plugin.OPT_PROFILE, profile,
        _plugin.OPT_LEVEL, namespace.level,
        _plugin.OPT_MAX_WAIT, repr(float(namespace.max_wait)),
        _plugin.OPT_TIMEOUT, repr(float(namespace.timeout)),
        _plugin.OPT_CONCURRENCY, str(namespace.concurrency),
        _plugin.OPT_ROUNDS, str(namespace.rounds),
    ]  # fmt: skip
    for header in namespace.header:
        argv += [_plugin.OPT_HEADER, header]
    for value in namespace.only:
        argv += [_plugin.OPT_ONLY, value]
    for value in namespace.exclude:
        argv += [_plugin.OPT_EXCLUDE, value]
    if namespace.insecure:
        argv.append(_plugin.OPT_INSECURE)
    if namespace.ca_bundle:
        argv += [_plugin.OPT_CA_BUNDLE, str(Path(namespace.ca_bundle).resolve())]
    if namespace.timing:
        argv.append(_plugin.OPT_TIMING)
    if namespace.strict:
        argv.append(_plugin.OPT_STRICT)
    if namespace.expected_failures:
        argv += [_plugin.OPT_EXPECTED_FAILURES, str(Path(namespace.expected_failures).resolve())]
    if namespace.show_secrets:
        argv.append(_plugin.OPT_SHOW_SECRETS)
    return argv


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    """No user pytest options or plugins from the environment, and no auto-loaded pytest11 plugins.

    PYTEST_DISABLE_PLUGIN_AUTOLOAD rather than --disable-plugin-autoload, which needs pytest 8.4.
    """
    saved = {name: os.environ.pop(name) for name in (*_PYTEST_ENVIRONMENT, _AUTOLOAD) if name in os.environ}
    os.environ[_AUTOLOAD] = "1"
    try:
        yield
    finally:
        del os.environ[_AUTOLOAD]
        os.environ.update(saved)


@contextlib.contextmanager
def _progress_stream() -> Iterator[TextIO | None]:
    """A duplicate of stderr for the progress line (pytest captures fd 2 while a test runs), TTY only."""
    try:
        fileno = sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield None
        return
    if not os.isatty(fileno):
        yield None
        return
    with os.fdopen(os.dup(fileno), "w", encoding="utf-8", errors="replace") as stream:
        yield stream


def execute(namespace: argparse.Namespace, target: str, profile: str) -> RunResult:
    """Run the suite through pytest.main and return the collector's RunResult.

    An interrupted run (Ctrl-C) returns its partial RunResult with ``interrupted`` set.

    Raises:
        KeyboardInterrupt: interrupted before the suite produced any result.
        TokenconformError: the suite did not run (pytest's reason, on one line).
    """
    import pytest

    with tempfile.TemporaryDirectory(prefix="tokenconform-pytest-") as workdir, _progress_stream() as progress:
        Path(workdir, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        collector = _Collector(progress=progress)
        buffer = io.StringIO()
        argv = pytest_argv(namespace, target, profile, workdir)
        with _isolated_environment(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            status = pytest.main(argv, plugins=[collector])
    if collector.run is not None and (collector.run.interrupted or collector.run.fatal):
        return collector.run
    if status == pytest.ExitCode.INTERRUPTED and collector.run is None:
        raise KeyboardInterrupt
    if collector.run is None or status == pytest.ExitCode.USAGE_ERROR:
        raise TokenconformError(f"the suite did not run (pytest exit status {int(status)}): {_pytest_reason(buffer)}")
    return collector.run


def _pytest_reason(buffer: io.StringIO) -> str:
    """The most telling line of pytest's buffered output, for a one-line error."""
    lines = [line.strip() for line in buffer.getvalue().splitlines() if line.strip()]
    for prefix in ("ERROR: tokenconform: ", "ERROR: ", "INTERNALERROR> E ", "INTERNALERROR> ", "E   "):
        for line in reversed(lines):
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return lines[-1] if lines else "no output"
