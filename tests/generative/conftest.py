"""Fixtures shared by the generative-model tests."""

import pytest

from course_utils import data


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


@pytest.fixture
def few_digits(monkeypatch, mnist):
    """Training reads the first 1,024 training digits only (fast tests)."""
    x_train, y_train, x_test, y_test = mnist
    monkeypatch.setattr(data, "load_mnist", lambda flatten=False: (
        x_train[:1024], y_train[:1024], x_test, y_test))
