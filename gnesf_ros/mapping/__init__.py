"""The online mapper: keyframes, fragments (local volumes), the global sparse semantic voxel map (no ROS)."""
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.mapping.mapper import Mapper, MapRender, MapUpdate, SemanticPoints
from gnesf_ros.mapping.voxel_map import VoxelMap

__all__ = ["Mapper", "MapperConfig", "MapRender", "MapUpdate", "SemanticPoints", "VoxelMap"]
