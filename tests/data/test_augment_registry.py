"""The augmentation registry (one class per augmentation) gives the outputs the four parallel tables
gave before it: the reference below was computed with the tables (issue #20). Per spec: what the
pipeline describes, a SHA-256 prefix of the outputs (in 1/100 pixel units, so a last-bit difference of
a float kernel on another CPU does not flip it) and the generator's next draw (the random numbers each
augmentation consumes, in order)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from cnnlab.data.transforms import AUGMENT_HELP, AUGMENTATIONS, ORDER, parse_augment, pixel_stats

# spec, describe(), output hash, next draw of the generator  # exact float32 hash on the machine that made it
REFERENCE = [
    ("crop", "crop(padding=4, mode=zero)", "320970771d1ead63", 43914585),  # 40309012d7090a2d
    ("crop=2:reflect", "crop(padding=2, mode=reflect)", "4eb06dfa568acd7f", 43914585),  # 744884d2d4261c3b
    ("flip", "flip(p=0.5)", "8787409b74847da0", 814000231),  # d6f3a89813646392
    ("flip=0.3", "flip(p=0.3)", "df73e399cf17d839", 814000231),  # c566ff2b335a7347
    (
        "rrc",
        "rrc(scale=(0.08, 1.0), ratio=(0.75, 1.3333333333333333))",
        "7f8a57f9422aad56",
        670184433,
    ),  # 7c629eb44f79b663
    (
        "rrc=0.35:0.9",
        "rrc(scale=(0.35, 0.9), ratio=(0.75, 1.3333333333333333))",
        "a6b9b5d786d08315",
        670184433,
    ),  # 42afbf08135db4b7
    (
        "jitter",
        "jitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0)",
        "176a8345019d6f7d",
        131569535,
    ),  # fe96f408ebada163
    (
        "jitter=0.2:0.3:0.4:0.1",
        "jitter(brightness=0.2, contrast=0.3, saturation=0.4, hue=0.1)",
        "81d57e0cf7b3b13e",
        490614522,
    ),  # d9ef4ec6372e19ee
    ("pca", "pca(std=0.1)", "40e98aa87f51194b", 956179256),  # 84bcbd29e46e5c85
    ("pca=0.5", "pca(std=0.5)", "100752250efb2a83", 956179256),  # 1ed5287ad39bab18
    ("cutout", "cutout(length=6)", "a27e7f73a2ef9ac7", 43914585),  # de4e5350bab24227
    ("cutout=3", "cutout(length=3)", "394230aded05eecb", 43914585),  # e883a9827367389e
    (
        "cutout=4,pca=0.2,jitter=0.4,flip,crop=3,rrc=0.5",
        "rrc(scale=(0.5, 1.0), ratio=(0.75, 1.3333333333333333)), crop(padding=3, mode=zero), flip(p=0.5), jitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0), pca(std=0.2), cutout(length=4)",
        "3d73c4b779b3198f",
        282286923,
    ),  # b590a10ec1db9b8a
    (
        "affine",
        "affine(degrees=10, scale=0.1, shear=0, translate=0)",
        "c10c355aa1af69be",
        684724127,
    ),  # 4b7205ddf279e195
    (
        "affine=20:0.2:10:0.1",
        "affine(degrees=20, scale=0.2, shear=10, translate=0.1)",
        "de2543ad236f5814",
        684724127,
    ),  # f8862c8c0cd1453a
    ("elastic", "elastic(alpha=34, sigma=4)", "afec06d1056c5043", 601466406),  # a8d0f16b6c1b9dc3
    ("elastic=8:2", "elastic(alpha=8, sigma=2)", "152041c967a57d7a", 601466406),  # 0b5ae24350fec3fb
    (
        "elastic=3,affine=5,flip,crop=2",
        "affine(degrees=5, scale=0.1, shear=0, translate=0), elastic(alpha=3, sigma=4), crop(padding=2, mode=zero), flip(p=0.5)",
        "24fd16edd281a1c1",
        577610748,
    ),  # a9b71c172c7d92a5
]


def _batch():
    x = torch.randint(0, 256, (6, 3, 12, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return x, pixel_stats(x)


@pytest.mark.parametrize("spec,described,digest,next_draw", REFERENCE)
def test_outputs_match_the_reference_made_before_the_registry(spec, described, digest, next_draw):
    x, stats = _batch()
    pipeline = parse_augment(spec, (3, 12, 10), stats)
    assert pipeline.describe() == described
    g = torch.Generator().manual_seed(7)
    y = pipeline(x, g)
    got = hashlib.sha256(torch.round(y.float() * 100).to(torch.int64).contiguous().numpy().tobytes()).hexdigest()
    assert got[:16] == digest
    assert int(torch.randint(0, 10**9, (1,), generator=g)) == next_draw


def test_the_registry_is_the_one_table():
    assert ORDER == ["rrc", "affine", "elastic", "crop", "flip", "jitter", "pca", "cutout"] == list(AUGMENTATIONS)
    assert all(AUGMENT_HELP[n].startswith(n) and AUGMENTATIONS[n].name == n for n in ORDER)
