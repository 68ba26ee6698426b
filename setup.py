"""Installs the gnesf_ros Python package, its data files and console scripts.

Under colcon (ament_python) the data files land in share/gnesf_ros and the console scripts in
lib/gnesf_ros (setup.cfg). In the pip environment (`make setup`, an editable install) the package reads
them from the source tree (gnesf_ros/paths.py), and tools/install_ros_layout.py installs the same
data_files and console scripts, read from this file, where the ament index finds them.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gnesf_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["checkpoints/*.pt", "checkpoints/*.yaml", "assets/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["numpy", "torch", "pyyaml", "tqdm", "scipy"],
    zip_safe=False,
    maintainer="gnesf_ros developers",
    maintainer_email="gnesf-ros@example.org",
    description="Online generalizable neural semantic fields (GNeSF) mapping for ROS 2",
    license="MIT",
    entry_points={
        "console_scripts": [
            "gnesf-bag = gnesf_ros.cli.bag:main",
            "gnesf-play = gnesf_ros.cli.play:main",
            "gnesf-train = gnesf_ros.cli.train:main",
            "gnesf-eval = gnesf_ros.cli.eval:main",
            "gnesf-map = gnesf_ros.cli.map:main",
            "gnesf-demo = gnesf_ros.cli.demo:main",
            "gnesf-record = gnesf_ros.ros.recorder:main",
            "mapping_node = gnesf_ros.ros.node:main",
            "gnesf-train-segmenter = gnesf_ros.cli.train_segmenter:main",
            "segmenter_node = gnesf_ros.ros.segmenter_node:main",
        ],
    },
)
