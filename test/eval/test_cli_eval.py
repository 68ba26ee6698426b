import pytest

from gnesf_ros.cli.eval import main, parse_seeds, reserved_seeds
from gnesf_ros.errors import ConfigError


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """main() sets torch's thread count (--threads, default 1): give the rest of the session its own back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_parse_seeds():
    assert parse_seeds("2000:2003") == [2000, 2001, 2002]
    assert parse_seeds("7") == [7]
    assert parse_seeds("1,5:7,1") == [1, 5, 6]
    with pytest.raises(ConfigError, match="expected A:B"):
        parse_seeds("3:3")
    with pytest.raises(ConfigError, match="expected A:B"):
        parse_seeds("a:b")


def test_reserved_seeds_from_split_files(tmp_path):
    data = tmp_path / "data.yaml"
    data.write_text("synthetic:\n  train_seeds: [0, 10]\n  val_seeds: [10, 12]\n  test_seeds: [2000, 2100]\n"
                    "  demo_seed: 2024\n")
    train = tmp_path / "train.yaml"
    train.write_text("train_seed_range: [0, 20]\nval_seeds: [1000, 1001]\n")
    assert reserved_seeds(data, tmp_path / "missing.yaml") == set(range(12))
    assert reserved_seeds(data, train) == set(range(20)) | {1000, 1001}


def test_shipped_splits_reserve_training_not_test_seeds():
    reserved = reserved_seeds()
    assert {0, 999, 1000}.issubset(reserved)
    assert not reserved & set(range(2000, 2100))


def test_cli_refuses_training_seeds(tmp_path, capsys):
    assert main(["synthetic", "--seeds", "990:1001", "--out", str(tmp_path), "--methods", "input_2d"]) == 2
    err = capsys.readouterr().err
    assert "refusing seeds used for training or validation (11: 990, 991" in err
    assert not (tmp_path / "metrics.json").exists()


def test_cli_argument_errors(tmp_path, capsys):
    assert main(["synthetic", "--seeds", "x", "--out", str(tmp_path)]) == 2
    assert "--seeds: expected A:B" in capsys.readouterr().err
    assert main(["synthetic", "--seeds", "2000", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "no.pt")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synthetic", "--seeds", "2000", "--out", str(tmp_path), "--methods", "nope"])
    assert main(["synthetic", "--seeds", "2000", "--out", str(tmp_path), "--threads", "-1"]) == 2
    assert "--threads must be >= 0" in capsys.readouterr().err


def test_threads_sets_torchs_thread_count(tmp_path, capsys):
    """--threads reaches torch before any work (the run itself then stops on the training seed)."""
    import torch

    torch.set_num_threads(2)
    assert main(["synthetic", "--seeds", "5", "--out", str(tmp_path), "--methods", "input_2d",
                 "--threads", "1"]) == 2
    assert torch.get_num_threads() == 1


def test_mapper_params_are_checked_and_recorded(tmp_path, capsys):
    from gnesf_ros.cli.eval import parse_mapper_params

    assert parse_mapper_params(["keyframe_min_translation_m=0.05", "large_windows=crop"]) == \
        {"keyframe_min_translation_m": 0.05, "large_windows": "crop"}
    for bad, why in ((["nope=1"], "MapperConfig field"), (["geometry_source=depth"], "MapperConfig field"),
                     (["window_size"], "NAME=VALUE"), (["large_windows=sideways"], "large_windows must be")):
        assert main(["synthetic", "--seeds", "2000", "--out", str(tmp_path), "--mapper-param", *bad]) == 2
        assert why in capsys.readouterr().err
