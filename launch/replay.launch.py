"""Replay a rosbag2 (or ROS 1 bag) through the gnesf_mapping node.

    ros2 launch gnesf_ros replay.launch.py bag:=/data/scene0000_00 rate:=0.5

Includes mapping.launch.py (all its arguments pass through, e.g. color_topic:=...) and runs the
project's bag player, `gnesf-play BAG --rate R`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.substitutions import ExecutableInPackage


def generate_launch_description():
    mapping_launch = os.path.join(get_package_share_directory('gnesf_ros'), 'launch', 'mapping.launch.py')

    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 folder, its .mcap/.db3 file, or a ROS 1 .bag.'),
        DeclareLaunchArgument('rate', default_value='1.0', description='Playback speed factor.'),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(mapping_launch)),
        ExecuteProcess(
            cmd=[ExecutableInPackage(executable='gnesf-play', package='gnesf_ros'),
                 LaunchConfiguration('bag'), '--rate', LaunchConfiguration('rate')],
            name='gnesf_play',
            output='screen',
        ),
    ])
