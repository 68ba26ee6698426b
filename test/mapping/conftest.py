"""Fixtures of the mapper tests (helpers live in mapping_fixtures.py)."""
import pytest

from mapping_fixtures import FakeModel, small_class_list


@pytest.fixture
def class_list():
    return small_class_list()


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()
