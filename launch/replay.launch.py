"""Replay a rosbag2 (or ROS 1 bag) through the gnesf_mapping node, on the bag's clock.

    ros2 launch gnesf_ros replay.launch.py bag:=/data/scene0000_00 rate:=0.5

Includes mapping.launch.py with use_sim_time true (all its other arguments pass through, e.g.
color_topic:=...) and runs the project's bag player,
`gnesf-play BAG --rate R --clock --wait-for-subscribers`: it publishes /clock from the bag's stamps and
starts playing only once every image and camera_info topic of the bag has a subscriber, so no frame is
published before the node is ready (it exits 1 if that does not happen within its timeout).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.substitutions import ExecutableInPackage


def required_bag(configurations):
    """The `bag` argument, or an error that tells the user to pass it."""
    bag = configurations.get('bag', '')
    if not bag:
        raise RuntimeError("replay.launch.py: no bag to play: pass bag:=PATH (a rosbag2 folder, its .mcap/.db3 "
                           "file, or a ROS 1 .bag)")
    return bag


def play_bag(context):
    """The player, once `bag` is known to be given (evaluated before the node is included)."""
    return [ExecuteProcess(
        cmd=[ExecutableInPackage(executable='gnesf-play', package='gnesf_ros'),
             required_bag(context.launch_configurations), '--rate', LaunchConfiguration('rate'),
             '--clock', '--wait-for-subscribers'],
        name='gnesf_play',
        output='screen',
    )]


def generate_launch_description():
    mapping_launch = os.path.join(get_package_share_directory('gnesf_ros'), 'launch', 'mapping.launch.py')

    return LaunchDescription([
        DeclareLaunchArgument('bag', default_value='',
                              description='Required: rosbag2 folder, its .mcap/.db3 file, or a ROS 1 .bag.'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback speed factor.'),
        OpaqueFunction(function=play_bag),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(mapping_launch),
                                 launch_arguments={'use_sim_time': 'true'}.items()),
    ])
