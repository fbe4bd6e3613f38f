"""Rules of the tracker, on every backend: lanes, duration cap, validation, prefixes."""

from __future__ import annotations

import pytest

from aitrack.clock import now_ms
from aitrack.errors import Conflict, InvalidValue, NotFound
from aitrack.settings import Settings
from aitrack.tracker import Tracker


def test_starting_a_session_closes_the_previous_one_in_its_lane(tracker: Tracker):
    first, _ = tracker.start_session("first", lane="tab-1")
    second, closed = tracker.start_session("second", lane="tab-1")
    assert [c.id for c in closed] == [first["id"]]
    first_now = tracker.get_session(first["id"])
    assert first_now["status"] == "completed"
    assert first_now["outcome"] == "partial"
    assert [s["id"] for s in tracker.records.active_sessions("tab-1")] == [second["id"]]


def test_sessions_in_other_lanes_stay_active(tracker: Tracker):
    a, _ = tracker.start_session("a", lane="tab-1")
    b, _ = tracker.start_session("b", lane="tab-2")
    c, closed = tracker.start_session("c", lane="foreground")
    assert closed == []
    active = {s["id"] for s in tracker.records.active_sessions()}
    assert active == {a["id"], b["id"], c["id"]}


def test_ending_after_the_maximum_duration_caps_the_end_time(store):
    tracker = Tracker(store, Settings(max_session_hours=1))
    start = now_ms() - 3 * 3_600_000
    session, _ = tracker.start_session("long", at_ms=start)
    ended = tracker.end_session(session["id"], "success")
    assert ended["end_time"] == start + 3_600_000
    assert ended["capped"] == 1


def test_auto_closed_session_is_capped_too(store):
    tracker = Tracker(store, Settings(max_session_hours=2))
    start = now_ms() - 10 * 3_600_000
    old, _ = tracker.start_session("overnight", at_ms=start)
    tracker.start_session("morning")
    closed = tracker.get_session(old["id"])
    assert closed["end_time"] == start + 2 * 3_600_000
    assert closed["capped"] == 1 and closed["outcome"] == "partial"


def test_ending_within_the_maximum_keeps_the_real_end(tracker: Tracker):
    session, _ = tracker.start_session("short")
    ended = tracker.end_session(session["id"], "failed", "gave up")
    assert ended["capped"] == 0
    assert ended["end_time"] >= session["start_time"]
    assert ended["notes"] == "gave up"


@pytest.mark.parametrize("rating", [0, 6, -1, "five", 3.5, None, True])
def test_a_rating_outside_one_to_five_is_refused_and_nothing_is_written(tracker, rating):
    session, _ = tracker.start_session("s")
    with pytest.raises(InvalidValue, match="1 to 5|whole number"):
        tracker.log_interaction(session["id"], "p", "r", rating)
    assert tracker.records.rows_for_session("interactions", session["id"]) == []
    assert tracker.get_session(session["id"])["interaction_count"] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.start_session("x", task_type="cooking"), "code_generation"),
        (lambda t: t.start_session("x", estimate_source="guess"), "issue_tracker"),
        (lambda t: t.start_session("", task_type="testing"), "must not be empty"),
        (lambda t: t.start_session("x", estimate_minutes=-5), "zero or more"),
    ],
)
def test_unknown_vocabulary_values_name_the_allowed_ones(tracker, call, message):
    with pytest.raises(InvalidValue, match=message):
        call(tracker)
    assert tracker.records.active_sessions() == []


def test_unknown_severity_and_outcome_are_refused(tracker: Tracker):
    session, _ = tracker.start_session("s")
    with pytest.raises(InvalidValue, match="low, medium, high, critical"):
        tracker.flag_issue(session["id"], "hallucination", "d", "urgent")
    with pytest.raises(InvalidValue, match="success, partial, failed"):
        tracker.end_session(session["id"], "done")
    assert tracker.get_session(session["id"])["status"] == "active"
    assert tracker.records.rows_for_session("issues", session["id"]) == []


def test_logging_to_an_ended_session_is_refused(tracker: Tracker):
    session, _ = tracker.start_session("s")
    tracker.end_session(session["id"], "success")
    with pytest.raises(Conflict, match="has ended"):
        tracker.log_interaction(session["id"], "p", "r", 4)
    with pytest.raises(Conflict, match="has ended"):
        tracker.flag_issue(session["id"], "t", "d", "low")
    with pytest.raises(Conflict, match="already ended"):
        tracker.end_session(session["id"], "success")


def test_logging_to_an_unknown_session_is_refused(tracker: Tracker):
    with pytest.raises(NotFound, match="aitrack list"):
        tracker.log_interaction("01NOPE", "p", "r", 4)


def test_a_unique_prefix_finds_the_session_and_an_ambiguous_one_is_refused(tracker: Tracker):
    a, _ = tracker.start_session("a", lane="1")
    b, _ = tracker.start_session("b", lane="2")
    assert tracker.resolve_session(a["id"][:20].lower())["id"] == a["id"]
    common = 0
    while a["id"][common] == b["id"][common]:
        common += 1
    if common:
        with pytest.raises(InvalidValue, match="several"):
            tracker.resolve_session(a["id"][:common])


def test_ending_without_an_id_needs_a_single_active_session(tracker: Tracker):
    tracker.start_session("a", lane="1")
    tracker.start_session("b", lane="2")
    with pytest.raises(Conflict, match="2 sessions are active"):
        tracker.end_session(None, "success")
    ended = tracker.end_session(None, "success", lane="2")
    assert ended["name"] == "b"


def test_interactions_update_the_session_counters_and_gaps(tracker: Tracker):
    session, _ = tracker.start_session("s")
    tracker.log_interaction(session["id"], "p1", "r1", 5, 2, ["edit"])
    tracker.log_interaction(session["id"], "p2", "r2", 3)
    s = tracker.get_session(session["id"])
    assert (s["interaction_count"], s["rating_sum"]) == (2, 8)
    rows = tracker.records.rows_for_session("interactions", session["id"])
    assert rows[0]["gap_ms"] is None and rows[1]["gap_ms"] >= 0
    assert rows[0]["tools_used"] == '["edit"]'


def test_idle_sessions_close_at_their_last_activity(tracker: Tracker):
    start = now_ms() - 5 * 3_600_000
    session, _ = tracker.start_session("forgotten", at_ms=start)
    fresh, _ = tracker.start_session("fresh", lane="other")
    closed = tracker.close_idle_sessions(idle_minutes=60)
    assert [c.id for c in closed] == [session["id"]]
    s = tracker.get_session(session["id"])
    assert s["end_time"] == start and s["outcome"] == "partial"
    assert tracker.get_session(fresh["id"])["status"] == "active"


def test_tags_and_notes_attach_to_sessions(tracker: Tracker):
    session, _ = tracker.start_session("s", tags={"team": "web"})
    tracker.tag(session["id"][:16], {"ticket": "ABC-1", "team": "api"})
    tracker.add_note("tried the other API")
    detail = tracker.session_detail(session["id"])
    assert detail["tags"] == {"team": "api", "ticket": "ABC-1"}
    assert [n["message"] for n in detail["annotations"]] == ["tried the other API"]
    assert [s["id"] for s in tracker.list_sessions({"tag": "ticket=ABC-1"})] == [session["id"]]
    assert tracker.list_sessions({"tag": "ticket=XYZ"}) == []


def test_session_list_filters_by_repo_outcome_and_text(tracker: Tracker):
    a, _ = tracker.start_session("Fix login bug", lane="1", repo_path="/r/one")
    b, _ = tracker.start_session("Add search", lane="2", repo_path="/r/two")
    tracker.end_session(a["id"], "failed")
    assert [s["id"] for s in tracker.list_sessions({"repo": "/r/two"})] == [b["id"]]
    assert [s["id"] for s in tracker.list_sessions({"outcome": "failed"})] == [a["id"]]
    assert [s["id"] for s in tracker.list_sessions({"q": "LOGIN"})] == [a["id"]]
    assert [s["id"] for s in tracker.list_sessions({"q": "50%_"})] == []
