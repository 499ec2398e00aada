"""Sessions from event logs: cancellations, time then file order, inactivity gaps, repeats,
filters; the time split never lets a test session's events into training."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.tasks.recommend.config import RecommendConfig
from lstmkit.tasks.recommend.data import (
    ItemVocabulary,
    Sessions,
    build_sessions,
    read_events,
    time_split,
)


def invoices(**changes):
    cfg = dict(item_col="item", session_col="invoice", time_col="time", quantity_col="qty")
    return RecommendConfig(**{**cfg, **changes})


def test_invoice_sessions_drop_cancellations_and_keep_time_then_file_order():
    frame = pd.DataFrame(
        {
            "invoice": ["A", "A", "A", "C1", "C1", "B", "B", "A", "B"],
            "item": ["x", "y", "z", "x", "y", "p", "q", "w", "r"],
            "qty": [1, 2, -1, -3, -1, 1, 1, 1, 1],
            "time": ["2011-01-01 10:00"] * 3
            + ["2011-01-01 10:05"] * 2
            + ["2011-01-01 09:00"] * 2
            + ["2011-01-01 10:00", "2011-01-01 08:00"],
        }
    )
    sessions = build_sessions(frame, invoices(repeats="keep"))
    # B starts first (08:00); inside B, r (08:00) before p, q (09:00, file order); A keeps
    # file order at one time; z (negative quantity) and the cancellation C1 are dropped.
    assert sessions.keys == ["B", "A"]
    assert sessions.items == [["r", "p", "q"], ["x", "y", "w"]]


def test_repeats_keep_collapse_or_first():
    frame = pd.DataFrame(
        {"invoice": ["A"] * 6, "item": list("aabbab"), "qty": [1] * 6, "time": np.arange(6)}
    )
    got = {
        r: build_sessions(frame, invoices(repeats=r)).items[0]
        for r in ("keep", "collapse", "first")
    }
    assert got == {"keep": list("aabbab"), "collapse": list("abab"), "first": list("ab")}


def test_sessions_cut_from_users_by_the_inactivity_gap():
    frame = pd.DataFrame(
        {
            "user": ["u", "u", "u", "v", "u", "v"],
            "item": ["a", "b", "c", "d", "e", "f"],
            "time": [0, 60, 60 + 31 * 60, 100, 60 + 32 * 60, 200],  # seconds
        }
    )
    cfg = RecommendConfig(
        item_col="item",
        session_col=None,
        user_col="user",
        time_col="time",
        gap_minutes=30,
        min_session_length=2,
    )
    sessions = build_sessions(frame, cfg)
    assert sessions.items == [["a", "b"], ["d", "f"], ["c", "e"]]
    assert sessions.keys == ["u#1", "v#1", "u#2"]
    np.testing.assert_array_equal(sessions.ends, [60, 200, 60 + 32 * 60])


def test_min_length_and_cancel_flag():
    frame = pd.DataFrame(
        {
            "session": ["s", "s", "t", "t", "t"],
            "item": list("abcde"),
            "time": [1, 2, 3, 4, 5],
            "gone": ["no", "yes", "0", "1", "false"],
        }
    )
    sessions = build_sessions(frame, RecommendConfig(cancel_col="gone"))
    assert sessions.items == [["c", "e"]]  # s is left with one event


def test_split_keeps_every_session_whole_and_test_events_out_of_training():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "session": rng.integers(0, 60, n).astype(str),
            "item": rng.integers(0, 30, n).astype(str),
            "time": rng.uniform(0, 40 * 86400, n),  # 40 days
        }
    )
    sessions = build_sessions(frame, RecommendConfig(repeats="keep"))
    train, val, test = time_split(sessions, test_days=5, val_days=5)
    assert len(train) + len(val) + len(test) == len(sessions)
    keys = [set(p.keys) for p in (train, val, test)]
    assert not (keys[0] & keys[2]) and not (keys[0] & keys[1]) and not (keys[1] & keys[2])
    times = frame.groupby("session")["time"]
    test_from = frame["time"].max() - 5 * 86400
    # every event of every training session happened before the test period began,
    # and every test session has its last event inside it
    assert all(times.get_group(k).max() <= test_from - 5 * 86400 for k in train.keys)
    assert all(times.get_group(k).max() > test_from for k in test.keys)
    test_events = {(k, t) for k in test.keys for t in times.get_group(k)}
    train_events = {(k, t) for k in train.keys for t in times.get_group(k)}
    assert not test_events & train_events


def test_test_items_unseen_in_training_are_removed():
    vocab = ItemVocabulary.build([["a", "b"], ["b", "c"], ["c", "a"]])
    test = Sessions(
        [["a", "z", "b"], ["z", "y", "c"], ["q", "c", "a"]], np.zeros(3), ["1", "2", "3"]
    )
    encoded = vocab.encode_all(test)
    assert [vocab.decode(s) for s in encoded] == [["a", "b"], ["c", "a"]]  # "2" keeps one item


def test_item_support_filter():
    vocab = ItemVocabulary.build([["a", "b"], ["b", "c"], ["b", "a"]], min_support=2)
    assert vocab.items == ["a", "b"] and vocab.counts.tolist() == [0, 2, 3]


def test_unix_seconds_and_dates_both_read(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text(
        "session,item,time\n1,a,1300000000\n1,b,1300000060\n2,c,1300000100\n2,d,1300000200\n"
    )
    sessions = read_events(path, RecommendConfig())
    assert sessions.items == [["a", "b"], ["c", "d"]]
    assert sessions.ends.tolist() == [1300000060.0, 1300000200.0]


@pytest.mark.parametrize(
    ("text", "changes", "message"),
    [
        ("session,item,time\n", {}, "has a header but no rows"),
        ("session,thing,time\n1,a,1\n", {}, r"column 'item' \(--item-col\) is not in"),
        (
            "session,item,time\n1,a,yesterday\n1,b,1\n1,c,2\n",
            {},
            "time column 'time' holds numbers, but 1 values are not, e.g. 'yesterday'",
        ),
        ("session,item,time\n1,a,1\n2,b,2\n", {}, "no session has 2 or more events"),
    ],
)
def test_bad_event_files_say_what_is_wrong(tmp_path, text, changes, message):
    path = tmp_path / "events.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_events(path, RecommendConfig(**changes))


def test_missing_file_and_empty_split():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_events("/nonexistent/events.csv", RecommendConfig())
    one_day = Sessions([["a", "b"]] * 3, np.array([0.0, 100.0, 200.0]), ["1", "2", "3"])
    with pytest.raises(ValueError, match="the training part is empty"):
        time_split(one_day, test_days=1, val_days=0)


def test_an_unset_test_period_is_30_days_or_a_tenth_of_a_shorter_log():
    long, short = RecommendConfig(), RecommendConfig(val_days=0.0)
    long.resolve_split(400.0)
    short.resolve_split(12.0)
    assert (long.test_days, long.val_days) == (30.0, 30.0)
    assert short.test_days == pytest.approx(1.2) and short.val_days == 0.0
    given = RecommendConfig(test_days=5.0)
    given.resolve_split(12.0)
    assert (given.test_days, given.val_days) == (5.0, 5.0)
