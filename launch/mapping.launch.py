"""Start the gnesf_mapping node.

    ros2 launch gnesf_ros mapping.launch.py color_topic:=/camera/color/image_raw \
        color_info_topic:=/camera/color/camera_info semantic_topic:=/segmentation/labels

Each *_topic argument is remapped onto the node's relative input of the same role; the defaults leave
them unchanged. Parameters come from config_file (default: the installed config/mapping.yaml).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

# (launch argument, node input it is remapped onto, description)
INPUT_TOPICS = (
    ('color_topic', 'color/image', 'Colour image (sensor_msgs/Image).'),
    ('color_info_topic', 'color/camera_info', 'Colour camera intrinsics (sensor_msgs/CameraInfo).'),
    ('semantic_topic', 'semantic/image',
     'Label ids (mono8/mono16) or class probabilities (32FC<C>) from a 2D segmenter (sensor_msgs/Image).'),
    ('semantic_confidence_topic', 'semantic/confidence', 'Optional label confidence (32FC1 sensor_msgs/Image).'),
    ('depth_topic', 'depth/image', 'Optional depth aligned to the colour image (16UC1 mm or 32FC1 m).'),
    ('pose_topic', 'pose', 'Camera pose (PoseStamped or Odometry) when pose_source is not "tf".'),
)


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory('gnesf_ros'), 'config', 'mapping.yaml')

    arguments = [
        DeclareLaunchArgument('config_file', default_value=default_config,
                              description='YAML file with the gnesf_mapping parameters.'),
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of the node.'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay) instead of the wall clock.'),
    ]
    arguments += [DeclareLaunchArgument(arg, default_value=node_input, description=description)
                  for arg, node_input, description in INPUT_TOPICS]

    mapping_node = Node(
        package='gnesf_ros',
        executable='mapping_node',
        name='gnesf_mapping',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('config_file'),
                    {'use_sim_time': LaunchConfiguration('use_sim_time')}],
        remappings=[(node_input, LaunchConfiguration(arg)) for arg, node_input, _ in INPUT_TOPICS],
        output='screen',
    )

    return LaunchDescription(arguments + [mapping_node])
