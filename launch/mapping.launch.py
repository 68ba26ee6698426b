"""Start the gnesf_mapping node.

    ros2 launch gnesf_ros mapping.launch.py color_topic:=/camera/color/image_raw \
        color_info_topic:=/camera/color/camera_info semantic_topic:=/segmentation/labels device:=cuda

With segmenter:=true the gnesf_segmenter node (segmenter_node) starts beside it and labels color_topic onto
semantic_topic + semantic_confidence_topic, so colour (+ depth) and poses are enough for a semantic map.

Parameters come from config_file (default: the installed config/mapping.yaml). Each argument of
PARAMETER_OVERRIDES sets the node parameter of the same name on top of that file when it is given; its empty
default keeps the file's value. Each *_topic argument is remapped onto the node's relative input of the same
role; the defaults leave them unchanged.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

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

# (launch argument = string parameter of the node, description); '' (the default) keeps config_file's value.
# The segmenter's topics: it reads color/image and writes the semantic inputs, remapped as the mapper's.
SEGMENTER_TOPICS = ('color_topic', 'semantic_topic', 'semantic_confidence_topic')

PARAMETER_OVERRIDES = (
    ('geometry_source', 'Geometry of a window: "learned" (from RGB) or "depth" (needs depth_topic).'),
    ('device', 'Torch device of the model: "cpu", "cuda" or "cuda:N".'),
    ('map_frame', 'Fixed frame of the map, the cloud and the poses.'),
    ('input_qos', 'QoS of the image inputs: "sensor_data" or "reliable".'),
    ('pose_source', 'Camera pose from "tf", "pose_stamped" or "odometry" (on pose_topic).'),
)


def parameter_overrides(configurations):
    """{parameter: value} for the PARAMETER_OVERRIDES arguments given with a non-empty value."""
    return {name: configurations[name] for name, _ in PARAMETER_OVERRIDES if configurations.get(name, '')}


def use_segmenter(configurations):
    """segmenter:= as a bool; a value that is not a boolean is an error naming the argument."""
    value = configurations.get('segmenter', 'false').strip().lower()
    if value not in ('true', 'false', '1', '0'):
        raise RuntimeError(f"mapping.launch.py: segmenter:={value!r} is not a boolean (true or false)")
    return value in ('true', '1')


def segmenter_node(context):
    """The gnesf_segmenter node: color_topic in, the mapper's semantic inputs out (same namespace)."""
    device = context.launch_configurations.get('segmenter_device', '')
    overrides = {'device': ParameterValue(device, value_type=str)} if device else {}
    return Node(
        package='gnesf_ros',
        executable='segmenter_node',
        name='gnesf_segmenter',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('segmenter_config_file'),
                    {'use_sim_time': LaunchConfiguration('use_sim_time'), **overrides}],
        remappings=[(node_io, LaunchConfiguration(arg)) for arg, node_io, _ in INPUT_TOPICS if arg in SEGMENTER_TOPICS],
        output='screen',
    )


def mapping_node(context):
    """The node, with config_file, then use_sim_time and the given overrides (later entries win); with
    segmenter:=true also the segmenter, and the mapper waits for its confidence images."""
    overrides = {name: ParameterValue(value, value_type=str)
                 for name, value in parameter_overrides(context.launch_configurations).items()}
    segmenter = use_segmenter(context.launch_configurations)
    if segmenter:
        overrides['require_confidence'] = True
    return [*([segmenter_node(context)] if segmenter else []), Node(
        package='gnesf_ros',
        executable='mapping_node',
        name='gnesf_mapping',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('config_file'),
                    {'use_sim_time': LaunchConfiguration('use_sim_time'), **overrides}],
        remappings=[(node_input, LaunchConfiguration(arg)) for arg, node_input, _ in INPUT_TOPICS],
        output='screen',
    )]


def generate_launch_description():
    share = get_package_share_directory('gnesf_ros')
    default_config = os.path.join(share, 'config', 'mapping.yaml')

    arguments = [
        DeclareLaunchArgument('config_file', default_value=default_config,
                              description='YAML file with the gnesf_mapping parameters.'),
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of the node.'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay with gnesf-play --clock) instead of the wall clock.'),
        DeclareLaunchArgument('segmenter', default_value='false',
                              description='Start gnesf_segmenter: label color_topic live (needs its trained checkpoint).'),
        DeclareLaunchArgument('segmenter_config_file', default_value=os.path.join(share, 'config', 'segmenter.yaml'),
                              description='YAML file with the gnesf_segmenter parameters.'),
        DeclareLaunchArgument('segmenter_device', default_value='',
                              description='Torch device of the segmenter. Default: segmenter_config_file.'),
    ]
    arguments += [DeclareLaunchArgument(arg, default_value=node_input, description=description)
                  for arg, node_input, description in INPUT_TOPICS]
    arguments += [DeclareLaunchArgument(arg, default_value='', description=description + ' Default: config_file.')
                  for arg, description in PARAMETER_OVERRIDES]

    return LaunchDescription(arguments + [OpaqueFunction(function=mapping_node)])
