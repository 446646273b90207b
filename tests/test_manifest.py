"""Manifest reading and validation (METHOD §1)."""

from __future__ import annotations

import pytest
from conftest import make_video

from spasmscope.data.manifest import check_segments_in_video, read_manifest
from spasmscope.errors import InputError


@pytest.fixture
def folder(tmp_path):
    make_video(tmp_path / "a.mp4", 60 * 3, fps=30)  # 6 s
    (tmp_path / "sub").mkdir()
    make_video(tmp_path / "sub" / "b.mp4", 30 * 11, fps=30)  # 11 s
    return tmp_path


def write(folder, text):
    p = folder / "m.csv"
    p.write_text(text)
    return p


def test_reads_defaults_paths_and_extra_columns(folder):
    m = read_manifest(write(folder, "video,child,start,label,cohort,views\na.mp4,c1,0,1,derivation,10\nsub/b.mp4,c2,5,0,healthy,\nsub/b.mp4,c2,0,0,healthy,3\n"))
    assert list(m.rows["end"]) == [5.0, 10.0, 5.0]
    assert m.rows["path"][1] == str((folder / "sub" / "b.mp4").resolve())
    assert list(m.rows["label"]) == [1, 0, 0] and list(m.rows["views"]) == ["10", "", "3"]
    assert m.videos == [str((folder / "a.mp4").resolve()), str((folder / "sub" / "b.mp4").resolve())]
    assert list(m.rows["line"]) == [2, 3, 4]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("video,start,label\na.mp4,0,1\n", 1, "no column 'child'"),
        ("video,child,start,label\na.mp4,c1,0,2\n", 2, "label is '2'"),
        ("video,child,start,end\na.mp4,c1,0,5\na.mp4,c1,3,3\n", 3, "end (3 s) is not after start (3 s)"),
        ("video,child,start\na.mp4,c1,zero\n", 2, "start is 'zero'"),
        ("video,child,start,cohort\na.mp4,c1,0,derivation\nsub/b.mp4,c1,0,external-1\n", 3, "child 'c1' is in two cohorts"),
        ("video,child,start\na.mp4,c1,0\nsub/b.mp4,c2,0\n./a.mp4,c1,0\n", 4, "duplicate segment on lines 2, 4"),
        ("video,child,start\nmissing.mp4,c1,0\n", 2, "video not found"),
        ("video,child,start\n", None, "no rows"),
    ],
)
def test_bad_manifests_are_refused_with_line_and_fix(folder, text, line, words):
    path = write(folder, text)
    with pytest.raises(InputError) as err:
        read_manifest(path)
    e = err.value
    assert words in str(e) and str(path) in str(e) and e.fix
    assert e.line == line
    assert "\n" not in str(e)


def test_labels_required_for_training(folder):
    with pytest.raises(InputError, match="no column 'label'"):
        read_manifest(write(folder, "video,child,start\na.mp4,c1,0\n"), require_labels=True)


def test_segment_past_end_of_video(folder):
    fits = read_manifest(write(folder, "video,child,start,end\na.mp4,c1,0,6.05\n"))
    check_segments_in_video(fits, fits.videos[0], 6.0)  # within the slack of one frame or so
    m = read_manifest(write(folder, "video,child,start\na.mp4,c1,0\na.mp4,c1,4\n"))
    with pytest.raises(InputError, match=r"segment 4-9 s is past the end of a.mp4 \(6.00 s long\)") as err:
        check_segments_in_video(m, m.videos[0], 6.0)
    assert err.value.line == 3


def test_a_list_of_recordings_resolves_from_its_folder_and_skips_comments(tmp_path):
    import pickle

    from spasmscope.data.manifest import read_list

    (tmp_path / "night").mkdir()
    (tmp_path / "night" / "list.txt").write_text("# the week of 3 March\nbed1.mp4\n\n  ../bed2.mp4  # moved\n/data/bed3.mkv\n")
    assert read_list(tmp_path / "night" / "list.txt") == [str(tmp_path / "night" / "bed1.mp4"), str(tmp_path / "bed2.mp4"), "/data/bed3.mkv"]
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    with pytest.raises(InputError, match="names no recording; write one recording's path per line"):
        read_list(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="list file not found"):
        read_list(tmp_path / "missing.txt")
    # Errors cross process boundaries whole (Ray workers raise them on the driver's behalf).
    error = InputError(tmp_path / "x.mp4", "is not visible", "mount it", line=3)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is InputError and str(again) == str(error) and again.fix == "mount it"
