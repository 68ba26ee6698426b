import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.frame_bayes import FrameBayes
from gnesf_ros.frame import Frame

# 1x3 images, f = 1, principal point at pixel 0: a point (x, 0, z) projects to column round(x / z)
K1 = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]])
POINTS = np.array([[0.0, 0, 1.0],   # column 0
                   [1.0, 0, 1.0],   # column 1
                   [2.0, 0, 1.0],   # column 2
                   [7.0, 0, 1.0]])  # column 7 (3.5 from 2 m: column 4): outside every image


def _frame(probs_rows, depth, T_map_cam=np.eye(4)):
    probs = np.asarray(probs_rows, dtype=np.float32).reshape(1, 3, -1)
    return Frame(rgb=np.zeros((1, 3, 3), np.uint8), K=K1, T_map_cam=T_map_cam, probs=probs,
                 depth_m=np.asarray(depth, np.float32).reshape(1, -1))


def test_votes_are_log_probabilities_of_the_frames_that_see_the_point():
    fb = FrameBayes(POINTS, 2, depth_tol_m=0.04, eps=1e-3)
    # frame A sees points 0 and 1 at their depth; column 2's surface lies 10 cm in front of point 2 (occluded)
    fb.add(_frame([[0.6, 0.4], [0.9, 0.1], [0.2, 0.8]], [1.0, 1.02, 0.9]))
    # frame B: point 0 agrees, point 1's pixel is unknown (all-zero row), point 2's depth is missing (NaN)
    fb.add(_frame([[0.3, 0.7], [0.0, 0.0], [0.5, 0.5]], [0.97, 1.0, np.nan]))
    np.testing.assert_array_equal(fb.num_votes, [2, 1, 0, 0])
    np.testing.assert_allclose(fb.log_evidence[0], [np.log(0.601) + np.log(0.301), np.log(0.401) + np.log(0.701)],
                               rtol=1e-6)
    np.testing.assert_allclose(fb.log_evidence[1], [np.log(0.901), np.log(0.101)], rtol=1e-6)
    # point 0: 0.6 * 0.3 = 0.18 < 0.4 * 0.7 = 0.28 -> class 1, though frame A alone says class 0
    np.testing.assert_array_equal(fb.labels(), [1, 0, IGNORE_ID, IGNORE_ID])


def test_range_and_pose_decide_which_frames_vote():
    T = np.eye(4)
    T[2, 3] = -1.0  # camera 1 m behind the map origin: the points lie at z = 2 m in its frame
    frame = _frame([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9]], [2.0, 2.0, 2.0], T_map_cam=T)
    near = FrameBayes(POINTS, 2, max_depth_m=1.5)
    near.add(frame)
    assert near.num_votes.sum() == 0  # beyond the range
    far = FrameBayes(POINTS, 2, max_depth_m=3.0)
    far.add(frame)  # nearest columns of x / 2: points 0, 1, 2 -> columns 0, 1 (0.5 rounds up), 1; point 3 -> 4
    np.testing.assert_array_equal(far.num_votes, [1, 1, 1, 0])
    np.testing.assert_array_equal(far.labels(), [1, 1, 1, IGNORE_ID])


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="finite"):
        FrameBayes(np.array([[0.0, np.nan, 1.0]]), 2)
    with pytest.raises(InputError, match="positive"):
        FrameBayes(POINTS, 2, depth_tol_m=0.0)
    fb = FrameBayes(POINTS, 3)
    with pytest.raises(InputError, match="classes"):
        fb.add(_frame([[0.5, 0.5]] * 3, [1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="does not match"):
        fb.add(_frame([[0.5, 0.5, 0.0]] * 3, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))  # depth (1, 6) for (1, 3) images
    no_depth = _frame([[0.5, 0.5, 0.0]] * 3, [1.0, 1.0, 1.0])
    no_depth.depth_m = None
    with pytest.raises(InputError, match="without depth"):
        fb.add(no_depth)


def _tool(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fusion_bound_tool():
    return _tool("fusion_bound")


def test_fusion_bound_relabels_a_methods_points_and_pools_scenes(tmp_path, capsys):
    tool = _fusion_bound_tool()

    class Base:  # a method's surface: the points of POINTS with labels the frames disagree with
        def surface(self):
            return POINTS, np.zeros(len(POINTS), np.int64)

    relabel = tool._FrameBayesAt(Base(), 2, max_depth_m=3.0)
    relabel.add_frame(_frame([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]], [1.0, 1.0, 1.0]))
    xyz, label = relabel.surface()
    np.testing.assert_array_equal(xyz, POINTS)
    np.testing.assert_array_equal(label, [1, 1, 0, IGNORE_ID])

    # two folders of one scene each: the pooled score sums their confusions (rows truth, last column unknown)
    for folder, seed, conf in (("a", 1, [[3, 1, 0], [0, 4, 0]]), ("b", 2, [[1, 0, 1], [0, 2, 0]])):
        (tmp_path / folder).mkdir()
        np.savez(tmp_path / folder / "bound.npz", **{f"{seed}/m": np.array(conf)})
    tool.tables([tmp_path / "a", tmp_path / "b"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| m |")][0]
    # pooled [[4, 1, 1], [0, 6, 0]]: IoU 4/6 and 6/7, acc 4/6 and 6/6
    assert row.split("|")[2].strip() == f"{100 * (4 / 6 + 6 / 7) / 2:.2f}"
    assert row.split("|")[3].strip() == f"{100 * (4 / 6 + 1) / 2:.2f}"


def test_fusion_bound_takes_gnesf_evals_semantics(tmp_path, capsys):
    """--semantics as gnesf-eval's (bad values refused before any work); the tables name each folder's input."""
    tool = _fusion_bound_tool()
    with pytest.raises(SystemExit):
        tool.main(["--seeds", "2000", "--out", str(tmp_path / "o"), "--semantics", "labels"])
    assert "--semantics must be one of segmenter, noise, truth, got 'labels'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--seeds", "2000", "--out", str(tmp_path / "o"), "--style", "cartoon"])
    assert "--style must be one of simple, realistic" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    (tmp_path / "a").mkdir()
    np.savez(tmp_path / "a" / "bound.npz", **{"1/m": np.array([[3, 1, 0], [0, 4, 0]])})
    (tmp_path / "a" / "bound.json").write_text('{"semantics": "segmenter", "style": "realistic"}')
    tool.tables([tmp_path / "a"])
    assert "2D input segmenter, style realistic" in capsys.readouterr().out


def test_oracles_bound_a_learned_vote_with_the_points_truth():
    """Truth (0, 1, 2, 0); two frames see points 0-2. Hand-worked per point:
    0: naive Bayes says 1 (0.5*0.2 < 0.3*0.7) though frame A's argmax is the truth: both oracles right.
    1: class 0 beats the truth in both frames: no vote can be right, both oracles keep naive Bayes' 0.
    2: no frame's argmax is 2 (view oracle keeps naive Bayes' 1), but 0 loses to 2 in B and 1 loses to 2 in A,
       so the necessary condition of the soft bound holds: it counts the point as right."""
    fb = FrameBayes(POINTS, 3, truth=np.array([0, 1, 2, 0]))
    fb.add(_frame([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.5, 0.2, 0.3]], [1.0, 1.0, 1.0]))
    fb.add(_frame([[0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.6, 0.3]], [1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(fb.labels(), [1, 0, 1, IGNORE_ID])
    np.testing.assert_array_equal(fb.view_oracle_labels(), [0, 0, 1, IGNORE_ID])
    np.testing.assert_array_equal(fb.soft_vote_bound_labels(), [0, 0, 2, IGNORE_ID])
    # an unknown truth (IGNORE_ID) is never counted right; a point's own label stays naive Bayes'
    unknown = FrameBayes(POINTS, 3, truth=np.array([IGNORE_ID, 1, 2, 0]))
    unknown.add(_frame([[0.5, 0.3, 0.2]] * 3, [1.0, 1.0, 1.0]))
    assert unknown.view_oracle_labels()[0] == 0 and unknown.soft_vote_bound_labels()[0] == 0
    with pytest.raises(InputError, match="true labels"):
        FrameBayes(POINTS, 3).view_oracle_labels()
    with pytest.raises(InputError, match="truth labels for"):
        FrameBayes(POINTS, 3, truth=np.array([0, 1]))


def test_fusion_bound_oracle_takes_the_nearest_true_label(tmp_path):
    tool = _fusion_bound_tool()

    class Base:
        def surface(self):
            return POINTS, np.zeros(len(POINTS), np.int64)

    # true surface: point 0's twin 1 cm away labelled 1; nothing within 10 cm of points 1-3
    # point 0 is a tie, which naive Bayes breaks towards 0 and the soft bound towards the truth 1
    oracle = tool._OracleAt(Base(), 2, 3.0, "soft", np.array([[0.01, 0, 1.0]]), np.array([1]))
    oracle.add_frame(_frame([[0.5, 0.5], [0.4, 0.6], [0.4, 0.6]], [1.0, 1.0, 1.0]))
    xyz, label = oracle.surface()
    np.testing.assert_array_equal(xyz, POINTS)
    np.testing.assert_array_equal(label, [1, 1, 1, IGNORE_ID])  # points 1, 2 have no truth: naive Bayes' 1
    with pytest.raises(ValueError, match="view or soft"):
        tool._OracleAt(Base(), 2, 3.0, "best", np.zeros((1, 3)), np.zeros(1))


def test_segmenter_cues_choose_the_view_each_cue_ranks_first():
    """tools/segmenter_cues.py: point 0 (truth class 0) seen by a near, unsure, grazing view that is wrong and by
    a far, sure, head-on view that is right. The view best by confidence or head_on is the right one, the nearest
    the wrong one; the votes' accuracy by cue is what each view's argmax says."""
    tool = _tool("segmenter_cues")
    cc = tool.CueChoice(POINTS[:1], 2, truth=np.array([0]), max_depth_m=3.0)
    near = _frame([[0.4, 0.6]] * 3, [1.0, 1.0, 1.0])  # the point at 1 m, column 0: argmax 1 (wrong), p 0.6
    T = np.eye(4)
    T[2, 3] = -1.0  # 2 m away, same column
    far = _frame([[0.9, 0.1]] * 3, [2.0, 2.0, 2.0], T_map_cam=T)  # argmax 0 (right), p 0.9
    cc.add_with_cues(near, normal_cos=np.full((1, 3), 0.2))
    cc.add_with_cues(far, normal_cos=np.full((1, 3), 0.9))
    assert cc.choice_labels("confidence")[0] == 0 and cc.choice_labels("head_on")[0] == 0
    assert cc.choice_labels("near")[0] == 1
    assert cc.choice_labels("central")[0] == 1  # a tie (same pixel) keeps the first view
    # weighted by nearness: (1 - 1/3) log p_near + (1 - 2/3) log p_far, class 0 vs 1
    w_near, w_far = 2 / 3, 1 / 3
    ev0 = w_near * np.log(0.4 + 1e-3) + w_far * np.log(0.9 + 1e-3)
    ev1 = w_near * np.log(0.6 + 1e-3) + w_far * np.log(0.1 + 1e-3)
    assert cc.weighted_labels("near")[0] == int(ev1 > ev0)
    np.testing.assert_array_equal(np.concatenate(cc.vote_right), [False, True])
    np.testing.assert_allclose(np.concatenate(cc.vote_cues["near"]), [-1.0, -2.0])
    bins = tool.quartile_accuracy(np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
                                  np.array([0, 0, 1, 0, 1, 1, 1, 1], bool))
    assert [b["accuracy"] for b in bins] == [0.0, 50.0, 100.0, 100.0] and sum(b["votes"] for b in bins) == 8
