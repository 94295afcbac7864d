"""mkdocs hooks for this site (listed under ``hooks:`` in mkdocs.yml).

Doctest output in the package's docstrings (``[('hot', 2, 1.0), ...]``) looks like a
Markdown reference link to mkdocs-autorefs, which then warns that it cannot resolve it,
and ``--strict`` would fail on a docstring that is right. Those warnings are dropped
here only when the "target" cannot be a Python name; a broken reference to a real name
(``whatconverts_async.Missing``) still fails the build.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_MARKER = "Could not find cross-reference target"
_PYTHON_NAME = re.compile(r"[A-Za-z_][\w.]*")


class _DropLiteralTargets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _MARKER not in message:
            return True
        target = message.split(_MARKER, 1)[1].strip()
        if target.startswith("'") and target.endswith("'"):
            target = target[1:-1]
        return bool(_PYTHON_NAME.fullmatch(target))


def on_config(config: Any) -> Any:
    """Install the filter on the handlers that count warnings for ``--strict``."""
    for handler in logging.getLogger("mkdocs").handlers:
        if not any(isinstance(f, _DropLiteralTargets) for f in handler.filters):
            handler.addFilter(_DropLiteralTargets())
    return config
