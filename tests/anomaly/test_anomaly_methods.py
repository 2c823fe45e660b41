"""PaDiM's Gaussian against NumPy, greedy k-center against a brute-force reference, chunked NN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.tasks.anomaly import padim, patchcore
from cnnlab.tasks.anomaly.features import gaussian_blur


def test_padim_gaussian_matches_numpy():
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(b, 5, 3, 2, generator=g) * 3 + 1 for b in (4, 3, 6)]
    stats = padim.PadimStats()
    for b in batches:
        stats.update(b)
    mean, cov = stats.finish(eps=0.01)
    x = torch.cat(batches).double().numpy()  # N x d x h x w
    for p, (i, j) in enumerate([(i, j) for i in range(3) for j in range(2)]):
        v = x[:, :, i, j]
        np.testing.assert_allclose(mean[p].numpy(), v.mean(0), rtol=1e-10)
        np.testing.assert_allclose(cov[p].numpy(), np.cov(v, rowvar=False) + 0.01 * np.eye(5), rtol=1e-9, atol=1e-12)
    inv = torch.linalg.inv(cov)
    test = torch.randn(2, 5, 3, 2, generator=g)
    dist = padim.mahalanobis(test, mean.float(), inv.float(), chunk=4)
    t = test.double().numpy()
    for p, (i, j) in enumerate([(i, j) for i in range(3) for j in range(2)]):
        for b in range(2):
            diff = t[b, :, i, j] - mean[p].numpy()
            ref = np.sqrt(diff @ np.linalg.solve(cov[p].numpy(), diff))
            assert float(dist[b, i, j]) == pytest.approx(ref, rel=1e-4)


def test_random_channels_seeded_subset():
    a = padim.random_channels(448, 100, seed=3)
    assert len(set(a.tolist())) == 100 and a.max() < 448 and torch.equal(a, padim.random_channels(448, 100, 3))
    assert torch.equal(padim.random_channels(50, 100, 0), torch.arange(50))


def brute_force_k_center(x: np.ndarray, first: int, n: int) -> list[int]:
    chosen = [first]
    while len(chosen) < n:
        best, best_d = None, -1.0
        for i in range(len(x)):
            d = min(float(np.sum((x[i] - x[c]) ** 2)) for c in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coreset_is_greedy_k_center(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3)).astype(np.float32) * [3, 1, 0.5]
    got = patchcore.greedy_coreset(torch.from_numpy(x), 12, proj_dim=None, seed=seed).tolist()
    assert got == brute_force_k_center(x.astype(np.float64), got[0], 12)
    # farthest-point property: each pick is at least as far from the earlier picks as any other point
    for k in range(1, 12):
        d = np.min(((x[:, None] - x[got[:k]][None]) ** 2).sum(-1), 1)
        assert d[got[k]] == pytest.approx(d.max(), rel=1e-5)


def test_coreset_projection_keeps_greedy_rule():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(80, 200)).astype(np.float32))
    got = patchcore.greedy_coreset(x, 10, proj_dim=16, seed=7)
    proj = (x @ patchcore.random_projection(200, 16, 7)).double().numpy()
    assert got.tolist() == brute_force_k_center(proj, int(got[0]), 10)


def test_chunked_nearest_matches_full_search():
    g = torch.Generator().manual_seed(1)
    q, bank = torch.randn(37, 6, generator=g), torch.randn(101, 6, generator=g)
    d, i = patchcore.nearest(q, bank, k=3, q_chunk=8, b_chunk=16)
    full = torch.cdist(q, bank)
    ref_d, ref_i = full.topk(3, dim=1, largest=False)
    torch.testing.assert_close(d, ref_d)
    assert torch.equal(i, ref_i)


def test_reweighting_formula():
    bank = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    feats = torch.tensor([[3.0, 0.0], [0.1, 0.1]]).T.reshape(1, 2, 1, 2)  # two patches: (3,0) and (0.1,0.1)
    dist, idx = patchcore.patch_scores(feats, bank)
    assert idx.flatten().tolist() == [1, 0] and float(dist[0, 0, 0]) == pytest.approx(2.0)
    s = patchcore.image_scores(feats, bank, dist, idx, neighbours=2, reweight=True)
    # m_test = (3,0), m* = (1,0); N_2(m*) = {(1,0), (0,0)}: distances 2 and 3
    assert float(s) == pytest.approx((1 - np.exp(2) / (np.exp(2) + np.exp(3))) * 2)
    assert float(patchcore.image_scores(feats, bank, dist, idx, reweight=False)) == pytest.approx(2.0)


def test_gaussian_blur_sums_and_spreads():
    x = torch.zeros(1, 61, 61)
    x[0, 30, 30] = 1.0
    y = gaussian_blur(x, 4.0)
    assert float(y.sum()) == pytest.approx(1.0, rel=1e-5)
    # variance of the blurred point = sigma^2 along each axis
    r = torch.arange(61, dtype=torch.float32) - 30
    assert float((y[0].sum(0) * r**2).sum()) == pytest.approx(16.0, rel=1e-3)
