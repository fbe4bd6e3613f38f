"""The ids a transcript import gives its rows: the C builder (_ulids.c) against its
specification (_ulids_python), and both against aitrack.ids."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aitrack import ids
from aitrack.importing import transcripts as importing

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def test_the_extension_is_built_and_used():
    from aitrack.importing import _ulids

    assert importing._ulids_c is _ulids.ulids


@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=30), st.randoms())
def test_the_c_builder_gives_what_the_python_specification_gives(times, rng):
    rand = rng.randbytes(16 * len(times))
    assert importing._ulids_c(times, rand) == importing._ulids_python(times, rand)


@pytest.mark.parametrize("t", [0, 1, 1_759_408_674_434, 2**48 - 1])
def test_each_id_starts_with_its_time_as_aitrack_ids_writes_it(t):
    (made,) = importing._ulids([t])
    assert ULID.fullmatch(made)
    assert made[:10] == ids.new_id(t)[:10]


def test_ids_of_one_time_differ_and_sort_by_time():
    made = importing._ulids([1_759_408_674_434] * 1000 + [1_759_408_674_435])
    assert len(set(made)) == len(made)
    assert max(made[:-1]) < made[-1]


def test_the_c_builder_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="16 each"):
        importing._ulids_c([1, 2], os.urandom(16))
    with pytest.raises(TypeError, match="not an int"):
        importing._ulids_c([1.5], os.urandom(16))
