"""The pytest plugin of refundkit (entry point ``pytest11``): the
``refundkit_emulator`` fixture. Loaded by pytest only; ``refundkit`` and
``refundkit.testing`` never import pytest."""

from __future__ import annotations

from typing import Iterator

import pytest

from refundkit.testing import Emulator


@pytest.fixture
def refundkit_emulator() -> Iterator[Emulator]:
    """An in-process emulator for this test, closed after it."""
    with Emulator() as emulator:
        yield emulator
