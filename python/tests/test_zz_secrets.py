"""Runs last (file order): no text the suite produced contains a secret.

That text is every str()/repr() the tests recorded (results, clients,
verifiers, events, exceptions), every log record at DEBUG (the package logs
each error it raises), and the emulator's output so far.
"""

from __future__ import annotations

from support import PRODUCED_TEXT, SECRETS, Emulator


def secret_material(secret: str) -> str:
    """What no text may contain: a mask keeps at most the prefix and the
    last four characters."""
    for prefix in ("sk_live_", "sk_test_", "whsec_"):
        if secret.startswith(prefix):
            return secret[len(prefix) :][:-4]
    return secret


def test_no_secret_in_any_repr_str_or_log_line(emulator: Emulator) -> None:
    texts = PRODUCED_TEXT + emulator.output
    assert len(texts) > 100, "too little text was recorded for this check to mean anything"
    for secret in set(SECRETS):
        material = secret_material(secret)
        if len(material) < 8:
            continue  # too short to tell from ordinary text (malformed-key vectors)
        leaks = [t for t in texts if material in t]
        assert not leaks, f"a secret ending {secret[-4:]!r} leaked: {leaks[:3]}"
