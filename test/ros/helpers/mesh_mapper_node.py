"""`python test/ros/helpers/mesh_mapper_node.py --ros-args ...`: the real node with a FakeMapper that holds a real
VoxelMap (`map`), loaded from and saved to real map files, so that `~/mesh` and `~/save_mesh` have a map to mesh."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_mapper import FakeMapper  # noqa: E402

from gnesf_ros.mapping.map_file import encode_map, read_map_file, write_map_file  # noqa: E402
from gnesf_ros.mapping.voxel_map import VoxelMap  # noqa: E402
from gnesf_ros.ros.node import main  # noqa: E402


class MeshFakeMapper(FakeMapper):
    def __init__(self, config=None, model=None, class_list=None):
        super().__init__(config, model, class_list)
        self.map = VoxelMap(self.class_list.num_classes, self.config.voxel_size_m)

    def load(self, path) -> None:
        data, _meta = read_map_file(path)
        self.map.data = data

    def save(self, path) -> None:
        write_map_file(path, encode_map(self.map.data, {"voxel_size_m": self.config.voxel_size_m,
                                                     "num_classes": self.class_list.num_classes}))

    def clear(self) -> None:
        super().clear()
        self.map.clear()


if __name__ == "__main__":
    sys.exit(main(sys.argv, mapper_factory=MeshFakeMapper))
