"""What a test needs from the machine (Redis, Chromium, nginx, LibreOffice, poppler, ffmpeg): a test whose
program is missing is skipped with the reason and how to install it, except where
``EXCHANGE_REQUIRE_PRODUCTION_LANE=1`` (``.ci/run`` sets it, having installed everything): there every lane
must run, and a missing program fails the test instead of skipping it silently."""

from __future__ import annotations

import os
import shutil

import pytest

from catalog.previews.tools import tools_available


def required_here() -> bool:
    return os.environ.get("EXCHANGE_REQUIRE_PRODUCTION_LANE") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, where everything is required, fail) the calling test or fixture for ``reason``."""
    if required_here():
        pytest.fail(f"{reason} (required here: EXCHANGE_REQUIRE_PRODUCTION_LANE=1)")
    pytest.skip(reason)


@pytest.fixture
def preview_tools() -> None:
    """LibreOffice, poppler-utils and ffmpeg, which the preview pipeline runs."""
    if not all(tools_available().values()):
        unavailable("needs LibreOffice, poppler-utils and ffmpeg (.ci/run installs them)")


@pytest.fixture
def ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        unavailable("needs ffmpeg (.ci/run installs it)")
