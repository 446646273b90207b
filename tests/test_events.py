"""Event-level arithmetic against hand-computed answers: windows, merging, overlap, adjacency, recording edges,
invalid stretches, pooling, the threshold choice and the SzCORE export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spasmscope.data.segments import window_spans
from spasmscope.screening.events import (
    EventParams,
    choose_threshold,
    deficiency,
    detections,
    merge_close,
    pool,
    score_events,
    score_recording,
    sweep,
    szcore_tsv,
)


def test_windows_cover_the_recording_with_a_last_window_at_the_end():
    assert window_spans(20.0).tolist() == [[s, s + 5] for s in (0, 2.5, 5, 7.5, 10, 12.5, 15)]
    spans = window_spans(21.0)
    assert spans[-1].tolist() == [16.0, 21.0] and spans[-2].tolist() == [15.0, 20.0]
    assert window_spans(3.0).tolist() == [[0.0, 3.0]]
    assert window_spans(5.0).tolist() == [[0.0, 5.0]]
    assert window_spans(10.0, hop=5.0).tolist() == [[0, 5], [5, 10]]
    hour = window_spans(3600.0)
    assert hour[0, 0] == 0 and hour[-1, 1] == 3600 and np.all(np.diff(hour[:, 0]) <= 2.5)
    with pytest.raises(ValueError, match="hop=0"):
        window_spans(10.0, hop=0)


def test_merge_close_joins_overlapping_touching_and_near_intervals():
    spans = np.array([[10, 12], [0, 5], [5, 7], [3, 4], [20, 21]])
    assert merge_close(spans).tolist() == [[0, 7], [10, 12], [20, 21]]
    assert merge_close(spans, gap=3.5).tolist() == [[0, 12], [20, 21]]
    assert merge_close(spans, gap=3.0).tolist() == [[0, 7], [10, 12], [20, 21]]  # 3 s apart is not less than 3


def _windows(duration: float, positive: list[float], invalid: list[float] = (), hop: float = 2.5) -> pd.DataFrame:
    spans = window_spans(duration, hop=hop)
    t = pd.DataFrame({"video": "a.mp4", "start": spans[:, 0], "end": spans[:, 1]})
    t["score"] = np.where(t["start"].isin(positive), 0.9, 0.1)
    t["valid"] = (~t["start"].isin(invalid)).astype(int)
    return t


def test_detections_merge_overlapping_and_adjacent_windows_and_skip_invalid_ones():
    w = _windows(60, positive=[0, 2.5, 17.5, 20, 30, 45], invalid=[45])
    d = detections(w, 0.5)
    assert d[["onset", "offset"]].values.tolist() == [[0, 7.5], [17.5, 25], [30, 35]]
    assert d["first_alarm"].tolist() == [5.0, 22.5, 35.0]
    # Adjacent windows (hop = length) touch and merge; a gap of one window does not, unless merge_gap allows it.
    w5 = _windows(30, positive=[0, 5, 15], hop=5.0)
    assert detections(w5, 0.5)[["onset", "offset"]].values.tolist() == [[0, 10], [15, 20]]
    assert detections(w5, 0.5, merge_gap=5.0)[["onset", "offset"]].values.tolist() == [[0, 20]]
    w5.loc[w5["start"] == 5, "score"] = 0.95
    assert detections(w5, 0.5).iloc[0][["peak_score", "peak_time"]].tolist() == [0.95, 7.5]
    assert detections(w5, 0.99).empty


def _scenario() -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 s: spasms at both edges, one detected inside, one missed, one inside an invalid stretch; one false alarm."""
    w = _windows(60, positive=[0, 2.5, 17.5, 20, 30, 55], invalid=[42.5, 45])
    ref = pd.DataFrame({"video": "a.mp4", "onset": [0.5, 20.0, 40.0, 45.5, 58.5], "offset": [2.0, 21.5, 41.0, 46.5, 59.8]})
    return w, ref


def test_spasm_level_scoring_by_hand():
    w, ref = _scenario()
    assert deficiency(w, 60) == pytest.approx(2.5)  # [45, 47.5] is covered by invalid windows only
    s = score_recording(w, ref, 60.0, EventParams(), cluster=False)
    # Scoreable: 4 (45.5-46.5 lies in the invalid stretch); detected: the two at the edges and the one at 20 s.
    assert (s.reference, s.true_positive, s.false_positive, s.unscorable) == (4, 3, 1, 1)
    assert sorted(s.latencies) == pytest.approx([1.5, 2.5, 4.5])  # 60 - 58.5, 22.5 - 20, 5 - 0.5
    m = pool([s])
    assert m["sensitivity"] == 0.75 and m["precision"] == 0.75 and m["f1"] == pytest.approx(0.75)
    assert m["false_alarms_per_hour"] == pytest.approx(60.0) and m["false_alarms_per_24h"] == pytest.approx(1440.0)
    assert (m["latency_median_s"], m["latency_min_s"], m["latency_max_s"]) == pytest.approx((2.5, 1.5, 4.5))
    assert m["deficiency_share"] == pytest.approx(2.5 / 60)


def test_cluster_level_scoring_by_hand():
    w, ref = _scenario()
    s = score_recording(w, ref, 60.0, EventParams(cluster_gap=10.0), cluster=True)
    # Clusters: 0.5-2, 20-21.5, 40-46.5 (4.5 s gap), 58.5-59.8. Detections merged the same way: 0-7.5,
    # 17.5-35 (5 s gap), 55-60. The 40-46.5 cluster has no detection within its tolerance; no false alarm.
    assert (s.reference, s.true_positive, s.false_positive, s.unscorable, s.detected_events) == (4, 3, 0, 0, 3)
    one = score_recording(w, ref, 60.0, EventParams(cluster_gap=60.0), cluster=True)
    assert (one.reference, one.true_positive, one.false_positive) == (1, 1, 0)
    assert one.latencies == pytest.approx((4.5,))


def test_tolerance_decides_whether_a_near_detection_counts():
    w = _windows(30, positive=[10])  # detection 10-15
    ref = pd.DataFrame({"video": "a.mp4", "onset": [16.0], "offset": [17.0]})
    near = score_recording(w, ref, 30.0, EventParams(tolerance_start=1.5), cluster=False)
    far = score_recording(w, ref, 30.0, EventParams(tolerance_start=0.5), cluster=False)
    assert (near.true_positive, near.false_positive) == (1, 0) and near.latencies == pytest.approx((-1.0,))
    assert (far.true_positive, far.false_positive) == (0, 1)


def test_pooled_false_alarms_per_24h_are_false_positives_over_hours():
    w1, ref = _scenario()
    w2 = _windows(1800, positive=[100, 900, 1500]).assign(video="b.mp4")
    m = score_events(pd.concat([w1, w2]), ref, EventParams())
    fp = 1 + 3
    hours = (60 + 1800) / 3600
    assert m["spasm"]["false_positive"] == fp
    assert m["spasm"]["false_alarms_per_24h"] == pytest.approx(fp / hours * 24)
    assert m["spasm"]["hours"] == pytest.approx(hours) and m["recordings"] == 2


def test_sweep_and_threshold_choice():
    w, ref = _scenario()
    w = w.assign(score=np.where(w["score"] > 0.5, np.linspace(0.55, 0.95, len(w)), 0.1))
    table = sweep(w, ref, EventParams(), np.array([0.3, 0.5, 0.7, 0.9]))
    assert table["spasm_sensitivity"].is_monotonic_decreasing
    assert table["spasm_false_alarms_per_24h"].is_monotonic_decreasing
    assert choose_threshold(table, 1e9) == 0.3  # no limit: the most sensitive
    strict = choose_threshold(table, 0.0)
    assert strict is not None and table.set_index("threshold").loc[strict, "spasm_false_alarms_per_24h"] == 0
    tiny = pd.DataFrame({"threshold": [0.5], "spasm_sensitivity": [1.0], "spasm_false_alarms_per_24h": [5.0]})
    assert choose_threshold(tiny, 1.0) is None


def test_szcore_export():
    w, _ = _scenario()
    tsv = szcore_tsv(detections(w, 0.5), 60.0)
    assert list(tsv.columns) == ["onset", "duration", "eventType", "confidence", "channels", "dateTime", "recordingDuration"]
    assert tsv["duration"].tolist() == [7.5, 7.5, 5.0, 5.0] and set(tsv["eventType"]) == {"sz"}
    empty = szcore_tsv(detections(w, 0.99), 60.0)
    assert empty[["onset", "duration", "eventType"]].values.tolist() == [[0.0, 60.0, "bckg"]]


def test_a_long_detection_is_split_at_spasm_level_and_kept_at_cluster_level():
    w = _windows(30, positive=list(np.arange(0, 26, 2.5)))  # positive from 0 to 30 s
    ref = pd.DataFrame({"video": "a.mp4", "onset": [5.0], "offset": [6.0]})
    spasm = score_recording(w, ref, 30.0, EventParams(max_duration=10.0), cluster=False)
    # 0-30 becomes 0-10, 10-20, 20-30: the first holds the spasm, the other two are false alarms.
    assert (spasm.true_positive, spasm.false_positive, spasm.detected_events) == (1, 2, 3)
    cluster = score_recording(w, ref, 30.0, EventParams(max_duration=10.0), cluster=True)
    assert (cluster.true_positive, cluster.false_positive, cluster.detected_events) == (1, 0, 1)


def test_the_sweep_figure_marks_a_chosen_threshold_only_where_it_has_a_sensitivity():
    from spasmscope.screening.report import sweep_figure

    table = pd.DataFrame({"threshold": [0.5, 0.9], "spasm_sensitivity": [None, None], "spasm_false_alarms_per_24h": [10.0, 0.0],
                          "cluster_sensitivity": [None, None], "cluster_false_alarms_per_24h": [5.0, 0.0]})  # fmt: skip
    assert sweep_figure(table, chosen=0.9)[:8] == b"\x89PNG\r\n\x1a\n"  # a recording with no annotated spasm
    table["spasm_sensitivity"] = [1.0, 0.5]
    assert sweep_figure(table, chosen=0.9)[:8] == b"\x89PNG\r\n\x1a\n"
