"""PatchCore (Roth et al., 2022, "Towards Total Recall in Industrial Anomaly Detection", CVPR).

- Locally aware patch features: each stage's map is averaged over a 3 x 3 neighbourhood (stride 1),
  the deeper map is upsampled to the shallower one and the two are concatenated (paper §3.1).
- Memory bank: every patch feature of the normal images, reduced by greedy k-center coreset
  selection (paper Algorithm 1): start from one random patch, repeatedly add the patch farthest
  from the chosen set, distances measured after a random linear projection to 128 dimensions
  (Johnson-Lindenstrauss, as the paper does to make selection cheaper).
- Scores: a test patch's distance to its nearest bank patch; the image score is the largest
  patch score s* = ||m_test* - m*||, optionally re-weighted (paper eq. 7) by
  w = 1 - exp(||m_test* - m*||) / sum over the b nearest bank neighbours m of m* of exp(||m_test* - m||).

Nearest-neighbour search is exact, by ``torch.cdist`` over chunks of queries and of the bank,
so memory stays at chunk x chunk distances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm import tqdm


def local_features(maps: list[torch.Tensor], patch: int = 3) -> torch.Tensor:
    """Neighbourhood-averaged maps, upsampled to the first map's size and concatenated: B x D x h x w."""
    from .features import concat_scales

    pooled = [F.avg_pool2d(m, patch, stride=1, padding=patch // 2, count_include_pad=False) for m in maps]
    return concat_scales(pooled)


def random_projection(dim: int, out_dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(dim, out_dim, generator=g) / out_dim**0.5


def greedy_coreset(
    x: torch.Tensor, n: int, proj_dim: int | None = 128, seed: int = 0, progress: bool = False
) -> torch.Tensor:
    """Indices of ``n`` rows of ``x`` chosen by greedy k-center (farthest point first).

    The first index is drawn with ``seed``; each next one maximises the distance to the nearest
    already chosen row. Distances are in a random ``proj_dim``-dimensional projection when
    ``x`` has more columns than that (``None``: no projection).
    """
    n = min(n, len(x))
    g = torch.Generator().manual_seed(seed)
    if proj_dim is not None and x.shape[1] > proj_dim:
        x = x @ random_projection(x.shape[1], proj_dim, seed)
    x = x.float()
    sq = (x * x).sum(1)
    chosen = torch.empty(n, dtype=torch.long)
    chosen[0] = torch.randint(len(x), (1,), generator=g)
    nearest = (sq - 2 * (x @ x[chosen[0]]) + sq[chosen[0]]).clamp_min(0)
    for k in tqdm(range(1, n), desc="coreset", leave=False, disable=not progress):
        i = int(torch.argmax(nearest))
        chosen[k] = i
        nearest = torch.minimum(nearest, (sq - 2 * (x @ x[i]) + sq[i]).clamp_min(0))
    return chosen


def nearest(
    queries: torch.Tensor, bank: torch.Tensor, k: int = 1, q_chunk: int = 2048, b_chunk: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances Q x k, bank indices Q x k) of each query's ``k`` nearest bank rows (Euclidean)."""
    best_d = torch.full((len(queries), k), float("inf"))
    best_i = torch.zeros((len(queries), k), dtype=torch.long)
    for qs in range(0, len(queries), q_chunk):
        q = queries[qs : qs + q_chunk]
        d_acc, i_acc = best_d[qs : qs + q_chunk], best_i[qs : qs + q_chunk]
        for bs in range(0, len(bank), b_chunk):
            d = torch.cdist(q, bank[bs : bs + b_chunk])
            kk = min(k, d.shape[1])
            dv, di = d.topk(kk, dim=1, largest=False)
            d_all = torch.cat([d_acc, dv], 1)
            i_all = torch.cat([i_acc, di + bs], 1)
            d_acc, pos = d_all.topk(k, dim=1, largest=False)
            i_acc = i_all.gather(1, pos)
        best_d[qs : qs + q_chunk], best_i[qs : qs + q_chunk] = d_acc, i_acc
    return best_d, best_i


def patch_scores(feats: torch.Tensor, bank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B x D x h x w -> (B x h x w nearest-bank distances, B x h x w nearest bank indices)."""
    b, d, h, w = feats.shape
    q = feats.permute(0, 2, 3, 1).reshape(-1, d)
    dist, idx = nearest(q, bank)
    return dist[:, 0].reshape(b, h, w), idx[:, 0].reshape(b, h, w)


def image_scores(
    feats: torch.Tensor,
    bank: torch.Tensor,
    dist: torch.Tensor,
    idx: torch.Tensor,
    neighbours: int = 9,
    reweight: bool = True,
) -> torch.Tensor:
    """The paper's image score: max patch distance s*, times w (eq. 7) when ``reweight``."""
    b = feats.shape[0]
    flat_d, flat_i = dist.reshape(b, -1), idx.reshape(b, -1)
    star = flat_d.argmax(1)
    s_star = flat_d.gather(1, star[:, None])[:, 0]
    if not reweight:
        return s_star
    m_test = feats.flatten(2).permute(0, 2, 1)[torch.arange(b), star]  # B x D
    m_star = bank[flat_i.gather(1, star[:, None])[:, 0]]
    _, nb = nearest(m_star, bank, k=min(neighbours, len(bank)))  # N_b(m*), m* itself included
    d_nb = torch.linalg.vector_norm(m_test[:, None, :] - bank[nb], dim=-1)  # B x b
    weight = 1 - torch.exp(s_star - torch.logsumexp(d_nb, dim=1))
    return weight * s_star
