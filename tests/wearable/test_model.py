"""PAT's architecture against the paper and the official code."""

from __future__ import annotations

import math

import pytest
import torch

from clarity.wearable import (
    PAT_SIZES,
    PATClassifier,
    PATConfig,
    PATEncoder,
    PATMaskedAutoencoder,
    attended_patches,
    positional_embeddings,
)

TINY = PATConfig(patch_size=144, layers=1, heads=2, embed_dim=8, ff_dim=16, dropout=0.0)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("size", "paper", "encoder"),
    # Paper (Ruan et al. 2024, Table 1): PAT-S 285K, PAT-M 1.00M, PAT-L 1.99M, with the head.
    # The encoders alone are what the official notebook prints (274,720 for PAT-S).
    [("S", 285_000, 274_720), ("M", 1_000_000, 993_440), ("L", 1_990_000, 1_984_192)],
)
def test_sizes__parameter_counts_match_the_paper(size, paper, encoder):
    config = PAT_SIZES[size]
    assert _count(PATEncoder(config)) == encoder
    assert _count(PATClassifier(config)) == pytest.approx(paper, rel=0.01)


def test_sizes__published_shapes_and_96_wide_heads():
    assert [(c.patch_size, c.layers, c.heads) for c in PAT_SIZES.values()] == [
        (18, 1, 6),
        (18, 2, 12),
        (9, 4, 12),
    ]
    encoder = PATEncoder(PAT_SIZES["M"])
    attention = encoder.layers[0].attention
    # Each of the 12 heads is 96 wide (Keras key_dim=96), not 96 / 12.
    assert attention.query.weight.shape == (12 * 96, 96)
    assert attention.attention_output.weight.shape == (96, 12 * 96)
    assert encoder.layers[0].norm1.eps == 1e-6
    # The masked autoencoder of the official PAT-S notebook has 549,458 parameters.
    assert _count(PATMaskedAutoencoder(PAT_SIZES["S"])) == 549_458


def test_config__refuses_impossible_shapes():
    with pytest.raises(ValueError, match="must divide"):
        PATConfig(patch_size=17)
    with pytest.raises(ValueError, match="even"):
        PATConfig(embed_dim=95)
    with pytest.raises(ValueError, match="layers must be at least 1"):
        PATConfig(layers=0)
    with pytest.raises(ValueError, match="dropout"):
        PATConfig(dropout=1.0)
    with pytest.raises(ValueError, match="Unknown PAT size 'XL'"):
        PATConfig.size("XL")
    assert PATConfig.size("s", dropout=0.0).dropout == 0.0


def test_positional_embeddings__sines_then_cosines_not_interleaved():
    table = positional_embeddings(560, 96)
    assert table.shape == (560, 96)
    p, i = 7, 5
    frequency = 10000 ** (-2 * i / 96)
    assert table[p, i].item() == pytest.approx(math.sin(p * frequency), abs=1e-5)
    assert table[p, 48 + i].item() == pytest.approx(math.cos(p * frequency), abs=1e-5)
    assert torch.all(table[0, :48] == 0) and torch.all(table[0, 48:] == 1)


def test_classifier__non_worn_patches_do_not_change_the_risk():
    torch.manual_seed(0)
    model = PATClassifier(TINY).eval()
    x = torch.randn(2, 10_080)
    wear = torch.ones(2, 10_080, dtype=torch.bool)
    wear[:, 1440:2880] = False  # ten patches of 144 minutes off the wrist
    changed = x.clone()
    changed[:, 1440:2880] = 50.0
    with torch.inference_mode():
        assert torch.allclose(model(x, wear), model(changed, wear), atol=1e-6)
        # Fully worn, the mask changes nothing: the official computation.
        full = torch.ones_like(wear)
        assert torch.allclose(model(x, full), model(x), atol=1e-6)
        assert not torch.allclose(model(x), model(changed))


def test_classifier__attention_is_the_last_layer_over_worn_keys():
    torch.manual_seed(0)
    model = PATClassifier(
        PATConfig(patch_size=144, layers=2, heads=3, embed_dim=8, ff_dim=8)
    ).eval()
    x = torch.randn(1, 10_080)
    wear = torch.ones(1, 10_080, dtype=torch.bool)
    wear[0, :144] = False
    logits, weights = model.forward_with_attention(x, wear)
    assert weights is not None and weights.shape == (1, 3, 70, 70)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 3, 70))
    assert torch.all(weights[..., 0] == 0)  # the unworn first patch is never attended to
    assert torch.allclose(logits, model(x, wear), atol=1e-6)


def test_attended_patches__keeps_a_week_with_no_worn_patch_finite():
    wear = torch.zeros(1, 10_080, dtype=torch.bool)
    assert attended_patches(wear, 144).all()
    model = PATClassifier(TINY).eval()
    assert torch.isfinite(model(torch.randn(1, 10_080), wear)).all()


def test_masked_autoencoder__encoder_sees_a_tenth_and_loss_counts_worn_minutes():
    torch.manual_seed(0)
    model = PATMaskedAutoencoder(TINY, mask_ratio=0.9)
    seen = []
    model.encoder.layers[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    x = torch.randn(3, 10_080)
    wear = torch.ones(3, 10_080, dtype=torch.bool)
    wear[:, :1440] = False
    generator = torch.Generator().manual_seed(1)
    reconstruction, loss = model(x, wear, generator=generator)
    assert seen == [7]  # 10% of 70 patches
    assert reconstruction.shape == x.shape
    assert reconstruction.abs().max() <= 2.0  # 2 * tanh: within two standard deviations
    expected = ((reconstruction - x) ** 2)[wear].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="mask_ratio"):
        PATMaskedAutoencoder(TINY, mask_ratio=1.0)
