"""`core.db.write`: the unit of work every service uses — it keeps a change only when the block commits it."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import Conflict, write
from core.models import StoredFile
from tests.conftest import unique


def row(key: str, name: str) -> StoredFile:
    """A file row (a table without audit entries, so the block needs none)."""
    return StoredFile(sha256=hashlib.sha256(key.encode()).hexdigest(), size=1, mime="text/plain", original_name=name)


def value_of(session, key: str):
    session.rollback()
    sha = hashlib.sha256(key.encode()).hexdigest()
    return session.scalar(select(StoredFile.original_name).where(StoredFile.sha256 == sha))


def test_a_block_that_commits_keeps_its_change(session):
    key = unique("uow")
    with write(session) as s:
        s.add(row(key, "kept"))
        s.commit()

    assert value_of(session, key) == "kept"


def test_a_block_that_leaves_without_committing_writes_nothing(session):
    key = unique("uow")

    def service():
        with write(session) as s:
            s.add(row(key, "never"))
            s.flush()
            return "left early"

    assert service() == "left early"
    assert value_of(session, key) is None


def test_a_domain_error_inside_the_block_rolls_back_and_goes_on_up(session):
    key = unique("uow")
    with pytest.raises(Conflict), write(session) as s:
        s.add(row(key, "never"))
        s.flush()
        raise Conflict("changed meanwhile")

    assert value_of(session, key) is None


def test_a_commit_that_fails_leaves_the_session_ready_for_the_next_request(session):
    key = unique("uow")
    with write(session) as s:
        s.add(row(key, "first"))
        s.commit()

    with pytest.raises(IntegrityError), write(session) as s:
        s.add(row(key, "duplicate"))
        s.commit()

    with write(session) as s:  # usable: no "transaction has been rolled back" error
        s.add(row(key + "-next", "next"))
        s.commit()
    assert (value_of(session, key), value_of(session, key + "-next")) == ("first", "next")


def test_a_unit_of_work_inside_an_open_one_is_refused_and_the_outer_change_is_kept_from_it(session):
    key = unique("uow")
    with pytest.raises(RuntimeError), write(session) as s:
        s.add(row(key, "outer"))
        s.flush()
        with write(session):  # would have rolled the outer block's flushed row back without a word
            pass

    assert value_of(session, key) is None  # the outer block raised, so it wrote nothing either

    with write(session) as s:  # after a commit, a second unit of work in the same block is fine
        s.add(row(key, "first"))
        s.commit()
        with write(session) as again:
            again.add(row(key + "-second", "second"))
            again.commit()
    assert (value_of(session, key), value_of(session, key + "-second")) == ("first", "second")
