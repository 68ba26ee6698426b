"""The ROS 2 layer: message conversions, TF buffer, input synchroniser and the `gnesf_mapping` node.

Only this package imports rclpy; `conversions`, `tf_buffer` and `sync` work (and are tested) without a graph.
"""
