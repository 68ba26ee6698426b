"""gnesf_ros: online, incremental 3D semantic mapping with Generalizable Neural Semantic Fields."""

__version__ = "0.1.0"
