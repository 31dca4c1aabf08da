"""The production password hasher: Argon2id at OWASP's minimum (the suite swaps in a cheap one, see conftest)."""

from argon2 import Type

from tests.conftest import PRODUCTION_HASHER


def test_production_passwords_are_argon2id_at_owasps_minimum():
    assert PRODUCTION_HASHER.type is Type.ID
    assert PRODUCTION_HASHER.time_cost == 2
    assert PRODUCTION_HASHER.memory_cost == 19 * 1024
    assert PRODUCTION_HASHER.parallelism == 1
    hashed = PRODUCTION_HASHER.hash("correct horse 42")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PRODUCTION_HASHER.verify(hashed, "correct horse 42")
