"""core/relist.py: which cached objects a fresh LIST shows to be gone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.relist import Seen, vanished, version_number


def test_an_object_missing_from_the_list_is_gone() -> None:
    seen = {"a": Seen("u-a", 5), "b": Seen("u-b", 6)}
    assert vanished(seen, {"b": "u-b"}, list_version=10) == ["a"]


def test_an_object_seen_after_the_list_was_taken_is_kept() -> None:
    # Created (or changed) after the LIST's revision: the LIST cannot know it.
    assert vanished({"a": Seen("u-a", 11)}, {}, list_version=10) == []


def test_another_object_of_the_same_name_means_the_seen_one_is_gone() -> None:
    assert vanished({"a": Seen("u-old", 5)}, {"a": "u-new"}, list_version=10) == ["a"]


def test_an_unreadable_version_counts_as_oldest() -> None:
    assert version_number("abc") == 0
    assert version_number(None) == 0
    assert version_number("42") == 42
    assert vanished({"a": Seen("u-a", version_number(None))}, {}, list_version=1) == ["a"]


keys = st.sampled_from("abcdefgh")
uids = st.sampled_from(["u1", "u2", "u3"])
seen_maps = st.dictionaries(keys, st.builds(Seen, uids, st.integers(0, 20)))
listings = st.dictionaries(keys, uids)


@given(seen_maps, listings, st.integers(0, 20))
def test_gone_means_seen_by_then_and_not_listed_as_itself(
    seen: dict[str, Seen], listed: dict[str, str], version: int
) -> None:
    gone = vanished(seen, listed, version)
    assert set(gone) <= set(seen)
    for key, last in seen.items():
        expected = last.resource_version <= version and listed.get(key) != last.uid
        assert (key in gone) is expected
