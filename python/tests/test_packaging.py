"""The package under test is the wheel users install, not a develop build."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

import refundkit


def test_the_installed_wheel_is_the_abi3_manylinux2014_one() -> None:
    expected = os.environ.get("REFUNDKIT_EXPECT_WHEEL_TAG")
    if not expected:
        pytest.skip("REFUNDKIT_EXPECT_WHEEL_TAG is set by scripts/test-python, which builds the wheel")
    distribution = importlib.metadata.distribution("refundkit")
    wheel = distribution.read_text("WHEEL") or ""
    tags = {line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")}
    assert expected in tags, f"installed wheel tags: {sorted(tags)}"
    native = Path(refundkit._native.__file__)
    assert native.name.endswith(".abi3.so"), native.name
    assert "site-packages" in native.parts, f"{native} is not an installed wheel"
