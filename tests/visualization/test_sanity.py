"""The saliency sanity check: maps of a randomised network against the trained one's."""

import torch
from torch import nn

from course_utils.visualization.saliency import compute_saliency_maps
from course_utils.visualization.sanity import cascading_randomization, rank_correlation


def test_rank_correlation_of_maps():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    assert rank_correlation(a, a) == 1.0
    assert rank_correlation(a, a.flip(1)) == -1.0
    assert rank_correlation(a, -a) == 1.0   # absolute values are compared
    assert rank_correlation(a, torch.ones_like(a)) == 0.0


def test_cascading_randomization_goes_top_down_and_keeps_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10),
                          nn.ReLU(), nn.Linear(10, 3)).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    X, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    results = cascading_randomization(model, lambda m: compute_saliency_maps(X, y, m))
    assert [name for name, _ in results] == ["5", "3", "0"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(-1 <= rho < 0.9 for _, rho in results)   # new weights, new gradients
