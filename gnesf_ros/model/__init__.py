"""The GNeSF network: features (Sec. 3.1), volume (Eq. 1), SDF head (Eq. 2), voting (Eq. 3-4), visibility,
rendering (Eq. 5, 7, 8-9). See docs/architecture.md, "The model (paper -> code)"."""
from gnesf_ros.model.config import InferenceOptions, ModelConfig
from gnesf_ros.model.gnesf import GNeSF
from gnesf_ros.model.renderer import RayResult, RenderMode, RenderResult
from gnesf_ros.model.window import EncodedWindow, QueryResult

__all__ = ["GNeSF", "ModelConfig", "InferenceOptions", "EncodedWindow", "QueryResult", "RayResult", "RenderMode",
           "RenderResult"]
