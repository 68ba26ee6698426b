"""`python test/ros/helpers/fake_mapper_node.py --ros-args ...`: the real node with the numpy FakeMapper."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_mapper import FakeMapper  # noqa: E402

from gnesf_ros.ros.node import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv, mapper_factory=FakeMapper))
