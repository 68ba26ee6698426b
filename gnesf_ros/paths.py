"""Where the package's data files live, installed by pip (next to the package) or by colcon (share/)."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def share_dir() -> Path:
    """Directory holding config/, launch/ and rviz/: the source tree, or colcon's share/gnesf_ros."""
    source_root = PACKAGE_DIR.parent
    if (source_root / "config" / "scannet20.yaml").is_file():
        return source_root
    try:  # installed by colcon: ament_index knows share/gnesf_ros
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("gnesf_ros"))
    except Exception:  # noqa: BLE001 - ament_index is optional; fall back to the source layout
        return source_root


def config_path(name: str) -> Path:
    """Path of a file in config/ (e.g. "scannet20.yaml")."""
    return share_dir() / "config" / name


def checkpoint_path(name: str = "gnesf.pt") -> Path:
    """Path of a checkpoint shipped inside the package."""
    return PACKAGE_DIR / "checkpoints" / name
