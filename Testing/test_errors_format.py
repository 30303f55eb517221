"""``errors.format_numbers``: points, sizes and boxes in messages print as plain numbers."""
import numpy as np

from PanCancerSubtypeLib.errors import format_numbers


def test_format_numbers_plain():
    assert format_numbers(np.array([133.0, -149.25, 94.0])) == "(133, -149.25, 94)"
    assert format_numbers((np.int64(10), np.int64(259), 30)) == "(10, 259, 30)"
    assert format_numbers(np.array([1.23456, -0.049]), 2) == "(1.23, -0.05)"
    assert format_numbers([0.5, 2]) == "(0.5, 2)"
    assert "np." not in format_numbers(np.float64(1.5) * np.ones(3))
