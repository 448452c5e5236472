import matplotlib
import pytest
import torch

from course_utils.generative import comparison

matplotlib.use("Agg")


def test_measure_scores_and_times_a_sampler():
    labels = torch.arange(10).repeat(20)
    real = comparison.floors(200)[0]
    noise = comparison.measure("noise", lambda: torch.rand(200, 1, 14, 14), labels=labels,
                               likelihood="8 bits/dim", train_seconds=3.0)
    assert noise.size == 14 and noise.fd > 20 * real.fd
    assert noise.accuracy is not None and noise.accuracy < 0.5   # noise is not the class asked for
    assert noise.sample_seconds is not None and noise.sample_seconds >= 0
    text = comparison.format_table([real, noise])
    assert "noise" in text and "8 bits/dim" in text and f"{noise.fd:.2f}" in text
    assert text.splitlines()[2].split()[-1] == "-"    # real digits have no sampling time
    figure = comparison.plot_table([real, noise])
    assert len(figure.axes[0].patches) == 2


def test_floors_rise_as_the_digits_lose_detail():
    full, small, binary = comparison.floors(200, seed=1)
    assert (full.size, small.size, binary.size) == (28, 14, 14)
    assert full.fd < binary.fd and full.fd < small.fd
    assert [row.accuracy for row in (full, small, binary)] == [None] * 3


def test_format_table_prints_every_row_and_a_row_needs_its_fd():
    rows = [comparison.Row("a", 1.0), comparison.Row("b", 2.0, accuracy=0.5)]
    assert len(comparison.format_table(rows).splitlines()) == 4
    with pytest.raises(TypeError):
        comparison.Row("c")   # fd is required
