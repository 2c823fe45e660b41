"""Vision Transformer: lecture 003's recipe step by step, parameter and multiply-add accounting
(ViT Table 1, torchvision, DeiT), and position-embedding interpolation for other input sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab import create_model, model_card
from cnnlab.models.vit import VIT_SIZES, VIT_VARIANTS, VisionTransformer, vit_macs, vit_params
from cnnlab.nn.transformer import interpolate_pos_embedding

from helpers.efficient_counting import macs, meta, n_params


@pytest.mark.parametrize("name", sorted(VIT_VARIANTS))
def test_param_formula_matches_the_module(name):
    size, patch, image, chans, classes = VIT_VARIANTS[name][:5]
    model = meta(create_model, name)
    assert n_params(model) == vit_params(size, patch, image, chans, classes) == model_card(name).params


@pytest.mark.parametrize("name", ["vit_ti_4_28", "vit_ti_8_32", "vit_ti_16", "vit_b_32"])
def test_mac_formula_matches_pytorch_flop_counter(name):
    """The formula counts patch projection, QKV/output projections, MLP, QK^T and AV, classifier;
    PyTorch's FlopCounterMode (an independent count) agrees exactly."""
    size, patch, image, chans, classes = VIT_VARIANTS[name][:5]
    assert macs(meta(create_model, name), image, chans) == vit_macs(size, patch, image, chans, classes)


@pytest.mark.parametrize("name, gmacs", [("vit_b_16", 17.564), ("vit_b_32", 4.409), ("vit_l_16", 61.555)])
def test_macs_match_torchvision_docs(name, gmacs):
    """torchvision's documented GFLOPS for its ViT weights (multiply-adds, including attention)."""
    size, patch, image, chans, classes = VIT_VARIANTS[name][:5]
    assert round(vit_macs(size, patch, image, chans, classes) / 1e9, 3) == gmacs


def test_vit_base_is_86m_as_table1():
    """Dosovitskiy et al. 2021, Table 1: ViT-Base 12 layers, D 768, MLP 3072, 12 heads, 86M params."""
    assert VIT_SIZES["b"] == (12, 768, 3072, 12) and VIT_SIZES["l"] == (24, 1024, 4096, 16)
    assert int(vit_params("b", 16, 224) / 1e6) == 86


@pytest.mark.parametrize("name, paper_m, paper_gmacs", [("vit_ti_16", 5, 1.26), ("vit_s_16", 22, 4.6)])
def test_small_vits_match_deit(name, paper_m, paper_gmacs):
    """DeiT (Touvron et al. 2021) Table 1: Ti 192-d / 3 heads / 12 layers, 5M params; S 384 / 6 / 12,
    22M (the table truncates 5.72M and 22.05M). Multiply-adds 1.26G and 4.6G as published with the
    released models; ours 1.254G and 4.599G (within 1%)."""
    size = name.split("_")[1]
    layers, dim, _mlp, heads = VIT_SIZES[size]
    assert (layers, dim, heads) == {"ti": (12, 192, 3), "s": (12, 384, 6)}[size]
    model = meta(create_model, name)
    assert int(n_params(model) / 1e6) == paper_m
    assert abs(macs(model, 224) / 1e9 - paper_gmacs) / paper_gmacs < 0.01


def test_lecture_003_recipe_step_by_step():
    """Lecture 003, 3.1: split into patches, flatten, linear projection to D, prepend [class], add
    position embeddings, transformer encoder. Done by hand here, it equals forward_features."""
    torch.manual_seed(0)
    model = create_model("vit_ti_4_32", num_classes=10).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial values everywhere (the head and class token start at zero)
            p.add_(0.02 * torch.randn_like(p))
        x = torch.randn(2, 3, 32, 32)
        patches = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)  # 1-2: (2, 64, 3*4*4), row-major
        assert patches.shape == (2, 64, 48)
        weight = model.conv_proj.weight.reshape(192, -1)  # 3: the linear projection E
        tokens = patches @ weight.T + model.conv_proj.bias
        tokens = torch.cat([model.class_token.expand(2, -1, -1), tokens], 1)  # 4: [class] first
        tokens = tokens + model.encoder.pos_embedding  # 5: one learned position embedding per token
        encoded = model.encoder.ln(model.encoder.layers(tokens))  # 6: the encoder
        assert torch.allclose(encoded, model.forward_features(x), atol=1e-5)
        assert torch.allclose(model.heads(encoded[:, 0]), model(x), atol=1e-5)  # classify the [class] output


def test_interpolation_keeps_prefix_corners_and_constants():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 4 * 4, 8)
    assert interpolate_pos_embedding(pos, 16) is pos  # same grid: unchanged
    new = interpolate_pos_embedding(pos, 7 * 7)
    assert new.shape == (1, 50, 8)
    assert torch.equal(new[:, 0], pos[:, 0])  # the class token's embedding is not a grid position
    grid, old = new[0, 1:].reshape(7, 7, 8), pos[0, 1:].reshape(4, 4, 8)
    for (i, j), (a, b) in {(0, 0): (0, 0), (0, 6): (0, 3), (6, 0): (3, 0), (6, 6): (3, 3)}.items():
        assert torch.allclose(grid[i, j], old[a, b], atol=1e-6)  # corners aligned
    const = torch.full((1, 17, 8), 0.5)
    assert torch.allclose(interpolate_pos_embedding(const, (3, 5)), torch.full((1, 16, 8), 0.5))
    with pytest.raises(ValueError, match="square"):
        interpolate_pos_embedding(pos, 10)


def test_other_input_size_forward_and_weight_conversion(tmp_path):
    """A ViT trained at 32x32 runs at 48x48 (position embeddings resized on the fly), and its weights
    load into a ViT built for 48x48 (resized once, by convert_weights through load_weights): both
    give the same outputs."""
    from cnnlab import load_weights

    torch.manual_seed(0)
    small = create_model("vit_ti_4_32", num_classes=10).eval()
    path = tmp_path / "vit32.pth"
    torch.save(small.state_dict(), path)
    big = create_model("vit_ti_4_32", num_classes=10, image_size=48).eval()
    assert big.encoder.pos_embedding.shape == (1, 1 + 12 * 12, 192)
    load_weights(big, str(path))
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(small(x), big(x), atol=1e-5)
        assert small(torch.randn(1, 3, 40, 56)).shape == (1, 10)  # non-square grid 10 x 14


def test_convert_weights_renames_old_torchvision_mlp_keys():
    model = meta(VisionTransformer, "ti", 4, 32, num_classes=10)
    sd = {
        "encoder.layers.encoder_layer_0.mlp.linear_1.weight": torch.zeros(1),
        "encoder.layers.encoder_layer_0.mlp.linear_2.bias": torch.zeros(1),
    }
    assert set(model.convert_weights(sd, "torchvision")) == {
        "encoder.layers.encoder_layer_0.mlp.0.weight",
        "encoder.layers.encoder_layer_0.mlp.3.bias",
    }


def test_drop_path_only_where_deit_uses_it():
    deit = meta(create_model, "vit_s_16")
    rates = [layer.drop_path.p if hasattr(layer.drop_path, "p") else 0.0 for layer in deit.encoder.layers]
    assert rates == pytest.approx([0.1 * i / 11 for i in range(12)])  # linear 0 -> 0.1 (DeiT)
    vit = meta(create_model, "vit_b_16")
    assert all(isinstance(layer.drop_path, torch.nn.Identity) for layer in vit.encoder.layers)


def test_small_vit_trains_a_step_on_mnist_sized_input():
    torch.manual_seed(0)
    model = create_model("vit_ti_4_28")
    assert model.in_chans == 1 and model.num_classes == 10
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def _timm_state_dict(model: VisionTransformer) -> dict[str, torch.Tensor]:
    """Our weights under timm's ViT key names (written out here from timm's layout, not derived
    from our converter)."""
    sd = model.state_dict()
    out = {
        "cls_token": sd["class_token"],
        "pos_embed": sd["encoder.pos_embedding"],
        "patch_embed.proj.weight": sd["conv_proj.weight"],
        "patch_embed.proj.bias": sd["conv_proj.bias"],
        "norm.weight": sd["encoder.ln.weight"],
        "norm.bias": sd["encoder.ln.bias"],
        "head.weight": sd["heads.head.weight"],
        "head.bias": sd["heads.head.bias"],
    }
    for i in range(len(model.encoder.layers)):
        p = f"encoder.layers.encoder_layer_{i}."
        out.update(
            {
                f"blocks.{i}.norm1.weight": sd[p + "ln_1.weight"],
                f"blocks.{i}.norm1.bias": sd[p + "ln_1.bias"],
                f"blocks.{i}.attn.qkv.weight": sd[p + "self_attention.in_proj_weight"],
                f"blocks.{i}.attn.qkv.bias": sd[p + "self_attention.in_proj_bias"],
                f"blocks.{i}.attn.proj.weight": sd[p + "self_attention.out_proj.weight"],
                f"blocks.{i}.attn.proj.bias": sd[p + "self_attention.out_proj.bias"],
                f"blocks.{i}.norm2.weight": sd[p + "ln_2.weight"],
                f"blocks.{i}.norm2.bias": sd[p + "ln_2.bias"],
                f"blocks.{i}.mlp.fc1.weight": sd[p + "mlp.0.weight"],
                f"blocks.{i}.mlp.fc1.bias": sd[p + "mlp.0.bias"],
                f"blocks.{i}.mlp.fc2.weight": sd[p + "mlp.3.weight"],
                f"blocks.{i}.mlp.fc2.bias": sd[p + "mlp.3.bias"],
            }
        )
    return out


def _reference_vit(w: dict[str, torch.Tensor], x: torch.Tensor, heads: int, patch: int) -> torch.Tensor:
    """ViT from the paper's equations (Dosovitskiy et al. 2021, Eq. 1-4) on timm-named weights:
    z0 = [cls; x_p E] + E_pos; z' = MSA(LN(z)) + z; z = MLP(LN(z')) + z'; y = head(LN(z_L)[0])."""
    z = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch).flatten(2).transpose(1, 2)
    z = torch.cat([w["cls_token"].expand(x.shape[0], -1, -1), z], 1) + w["pos_embed"]
    n, t, d = z.shape
    i = 0
    while f"blocks.{i}.norm1.weight" in w:
        b = f"blocks.{i}."
        h = F.layer_norm(z, (d,), w[b + "norm1.weight"], w[b + "norm1.bias"], eps=1e-6)
        q, k, v = (
            F.linear(h, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"])
            .reshape(n, t, 3, heads, d // heads)
            .permute(2, 0, 3, 1, 4)
        )
        attn = torch.softmax(q @ k.transpose(-2, -1) / (d // heads) ** 0.5, dim=-1)
        mixed = (attn @ v).transpose(1, 2).reshape(n, t, d)  # heads side by side again
        z = z + F.linear(mixed, w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])
        h = F.layer_norm(z, (d,), w[b + "norm2.weight"], w[b + "norm2.bias"], eps=1e-6)
        h = F.linear(
            F.gelu(F.linear(h, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"])),
            w[b + "mlp.fc2.weight"],
            w[b + "mlp.fc2.bias"],
        )
        z = z + h
        i += 1
    z = F.layer_norm(z, (d,), w["norm.weight"], w["norm.bias"], eps=1e-6)
    return F.linear(z[:, 0], w["head.weight"], w["head.bias"])


def test_timm_deit_weights_load_and_match_the_papers_equations(tmp_path):
    """A timm/DeiT-layout file (cls_token, blocks.{i}.attn.qkv, ...) loads through load_weights, and
    the loaded model equals a from-scratch implementation of the paper's equations."""
    from cnnlab import load_weights

    torch.manual_seed(0)
    source = VisionTransformer("ti", 4, 32, num_classes=10)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.05 * torch.randn_like(p))
    timm_sd = _timm_state_dict(source)
    path = tmp_path / "deit.pth"
    torch.save(timm_sd, path)
    model = create_model("vit_ti_4_32", num_classes=10).eval()
    load_weights(model, str(path))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), _reference_vit(timm_sd, x, heads=3, patch=4), atol=1e-4)
