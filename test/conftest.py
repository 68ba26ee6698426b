"""Shared test set-up: deterministic torch on the CPU and an isolated ROS 2 graph per test run."""
import os
import random

import pytest

# Every ROS test process of this run talks only to its siblings: localhost discovery, a random domain,
# and the large-data transport so images and clouds are not lost over UDP.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long end-to-end tests (still part of make test)")
    config.addinivalue_line("markers", "ros: needs rclpy and real middleware")


@pytest.fixture(autouse=True)
def _seed_torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(0)
