"""Fixtures: one emulator for the session (faults cleared after each test),
and a DEBUG log handler whose lines join the secret check."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from support import PRODUCED_TEXT, Emulator, find_binary


class _RecordAllLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        PRODUCED_TEXT.append(self.format(record))


def pytest_configure(config: pytest.Config) -> None:
    handler = _RecordAllLogs(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("refundkit").setLevel(logging.DEBUG)


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[Emulator]:
    emulator = Emulator(find_binary())
    yield emulator
    emulator.stop()
    PRODUCED_TEXT.extend(emulator.output)


@pytest.fixture
def emulator(emulator_process: Emulator) -> Iterator[Emulator]:
    """The session's emulator, with no faults before or after the test."""
    emulator_process.clear_faults()
    yield emulator_process
    emulator_process.clear_faults()
