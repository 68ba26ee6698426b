"""A small 2D semantic segmentation network (RGB -> ScanNet-20 class probabilities), its checkpoints and training.

Layer: below cli/ and ros/. `network`, `config`, `checkpoint` and `infer` need only torch and numpy; the
training modules (`train`, `train_data`, `augment`) read the synthetic generator in gnesf_ros/data/. The ROS node
that runs it is gnesf_ros/ros/segmenter_node.py.
"""
