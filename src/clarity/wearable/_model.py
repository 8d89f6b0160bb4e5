"""PAT, the Pretrained Actigraphy Transformer (Ruan et al. 2024), in PyTorch.

The modules mirror the official Keras code layer by layer, with the same
names (``dense``, ``encoder_layer_1_attention``, ``norm1``, ``ff1``, ...), so
that the published weights map onto them one to one (see
:mod:`clarity.wearable._keras`):

- a week of minute counts is cut into patches (a reshape) and each patch is
  embedded by one linear layer;
- fixed sine/cosine positions are added: sines in the first half of the
  embedding, cosines in the second (concatenated, not interleaved);
- post-norm transformer blocks whose attention heads are each 96 wide (Keras
  ``MultiHeadAttention(key_dim=96)``), ReLU feed-forward, dropout after the
  attention and after the feed-forward, layer norms with epsilon 1e-6.

One addition: minutes the device was not worn. A patch mostly off the wrist
is removed from attention (as a key) and from pooling, rather than read as
zero activity; on a fully worn week the computation is exactly the original.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PAT_SIZES",
    "PATClassifier",
    "PATConfig",
    "PATEncoder",
    "PATMaskedAutoencoder",
    "TransformerBlock",
    "attended_patches",
    "patch_wear",
    "positional_embeddings",
]

MINUTES_PER_WEEK = 10_080
_EPSILON = 1e-6  # Keras LayerNormalization(epsilon=1e-6) in the official code

SizeName = Literal["S", "M", "L"]


@dataclass(frozen=True)
class PATConfig:
    """Shape of a PAT model.

    Parameters
    ----------
    patch_size
        Minutes per patch; must divide 10,080.
    layers
        Transformer blocks in the encoder.
    heads
        Attention heads per block; each is ``embed_dim`` wide.
    embed_dim
        Width of the patch embedding.
    ff_dim
        Width of the feed-forward layer.
    dropout
        Dropout after the attention and the feed-forward layers.
    input_size
        Minutes per input (one week).
    head_units
        Width of the fine-tuning head's hidden layer.
    """

    patch_size: int = 18
    layers: int = 1
    heads: int = 6
    embed_dim: int = 96
    ff_dim: int = 256
    dropout: float = 0.1
    input_size: int = MINUTES_PER_WEEK
    head_units: int = 128

    def __post_init__(self) -> None:
        if self.patch_size < 1 or self.input_size % self.patch_size:
            raise ValueError(
                f"patch_size {self.patch_size} must divide the input of {self.input_size} minutes"
            )
        if self.embed_dim % 2:
            raise ValueError(
                f"embed_dim must be even for sine/cosine positions; got {self.embed_dim}"
            )
        for name in ("layers", "heads", "embed_dim", "ff_dim", "head_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")

    @property
    def num_patches(self) -> int:
        """Patches per input."""
        return self.input_size // self.patch_size

    @classmethod
    def size(cls, name: str, **overrides: float) -> PATConfig:
        """Build a published size: ``"S"``, ``"M"`` or ``"L"``.

        Parameters
        ----------
        name
            Size name.
        **overrides
            Fields to change (e.g. ``dropout=0.0``).

        Returns
        -------
        PATConfig
            The configuration.
        """
        try:
            base = PAT_SIZES[name.upper()]
        except KeyError:
            raise ValueError(
                f"Unknown PAT size {name!r}; choose one of {sorted(PAT_SIZES)}"
            ) from None
        return cls(**{**asdict(base), **overrides})

    def to_dict(self) -> dict[str, float]:
        """Return the fields, for JSON.

        Returns
        -------
        dict
            Field name to its value; ``PATConfig(**config.to_dict())`` rebuilds
            the configuration.
        """
        return asdict(self)


PAT_SIZES: dict[str, PATConfig] = {
    "S": PATConfig(patch_size=18, layers=1, heads=6),
    "M": PATConfig(patch_size=18, layers=2, heads=12),
    "L": PATConfig(patch_size=9, layers=4, heads=12),
}
"""PAT-S, PAT-M and PAT-L of the paper (embedding 96, feed-forward 256, dropout 0.1)."""


def positional_embeddings(num_patches: int, embed_dim: int) -> Tensor:
    """Compute the fixed sine/cosine positions of the official code: sines, then cosines.

    Parameters
    ----------
    num_patches
        Sequence length.
    embed_dim
        Embedding width (even).

    Returns
    -------
    Tensor
        ``(num_patches, embed_dim)``; column ``i < embed_dim/2`` is
        ``sin(p * 10000^(-2i/embed_dim))`` and column ``embed_dim/2 + i`` the cosine.
    """
    position = torch.arange(num_patches, dtype=torch.float32)[:, None]
    frequency = torch.exp(
        torch.arange(0, embed_dim, 2, dtype=torch.float32) * (-math.log(10000.0) / embed_dim)
    )
    return torch.cat([torch.sin(position * frequency), torch.cos(position * frequency)], dim=-1)


class MultiHeadAttention(nn.Module):
    """Keras ``MultiHeadAttention(num_heads, key_dim)`` for self-attention.

    The projections are stored flat (``heads * key_dim`` outputs) in the
    order of the Keras kernels ``(dim, heads, key_dim)``.
    """

    def __init__(self, dim: int, heads: int, key_dim: int) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.query = nn.Linear(dim, heads * key_dim)
        self.key = nn.Linear(dim, heads * key_dim)
        self.value = nn.Linear(dim, heads * key_dim)
        self.attention_output = nn.Linear(heads * key_dim, dim)

    def forward(
        self, x: Tensor, key_mask: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Attend; ``key_mask`` ``(batch, tokens)`` is True where a token may be attended to."""
        batch, tokens, _ = x.shape

        def split(t: Tensor) -> Tensor:
            return t.view(batch, tokens, self.heads, self.key_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        bias = None
        if key_mask is not None:
            bias = torch.zeros(batch, 1, 1, tokens, dtype=x.dtype, device=x.device)
            bias = bias.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        if need_weights:
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.key_dim)
            if bias is not None:
                scores = scores + bias
            weights = torch.softmax(scores, dim=-1)
            context = torch.matmul(weights, v)
        else:
            # Keras uses no attention dropout by default, and neither do we.
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            weights = None
        merged = context.transpose(1, 2).reshape(batch, tokens, self.heads * self.key_dim)
        return self.attention_output(merged), weights


class TransformerBlock(nn.Module):
    """The official post-norm block: ``LN(x + drop(MHA(x)))``, then ``LN(x1 + drop(FF(x1)))``.

    Parameters
    ----------
    config
        The model shape: embedding and feed-forward widths, heads and dropout.
    heads
        Attention heads, each ``embed_dim`` wide; None takes ``config.heads``.
    """

    def __init__(self, config: PATConfig, heads: int | None = None) -> None:
        super().__init__()
        dim = config.embed_dim
        self.attention = MultiHeadAttention(dim, heads or config.heads, dim)
        self.dropout = nn.Dropout(config.dropout)
        self.norm1 = nn.LayerNorm(dim, eps=_EPSILON)
        self.ff1 = nn.Linear(dim, config.ff_dim)
        self.ff2 = nn.Linear(config.ff_dim, dim)
        self.dropout2 = nn.Dropout(config.dropout)
        self.norm2 = nn.LayerNorm(dim, eps=_EPSILON)

    def forward(
        self, x: Tensor, key_mask: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Return the new tokens and, when asked, the attention ``(batch, heads, q, k)``.

        Parameters
        ----------
        x
            ``(batch, tokens, embed_dim)`` tokens.
        key_mask
            ``(batch, tokens)``: True for tokens that may be attended to; all
            when None.
        need_weights
            Also return the attention weights (computed explicitly rather than
            by the fused kernel).

        Returns
        -------
        tuple
            The new tokens ``(batch, tokens, embed_dim)`` and the attention
            weights ``(batch, heads, tokens, tokens)``, or None when not asked.
        """
        attended, weights = self.attention(x, key_mask, need_weights=need_weights)
        x = self.norm1(x + self.dropout(attended))
        fed = self.ff2(F.relu(self.ff1(x)))
        return self.norm2(x + self.dropout2(fed)), weights


def patch_wear(wear: Tensor, patch_size: int, threshold: float = 0.5) -> Tensor:
    """Mark the patches worn at least ``threshold`` of their minutes.

    Parameters
    ----------
    wear
        ``(batch, minutes)`` boolean or 0/1 wear per minute.
    patch_size
        Minutes per patch.
    threshold
        Share of worn minutes a patch needs.

    Returns
    -------
    Tensor
        ``(batch, patches)`` boolean.
    """
    share = wear.float().view(wear.shape[0], -1, patch_size).mean(dim=-1)
    return share >= threshold


class PATEncoder(nn.Module):
    """Patch embedding, positions and the transformer blocks (the official ``encoder_model``).

    Parameters
    ----------
    config
        The model shape: patch size, embedding width, blocks and heads.
    """

    def __init__(self, config: PATConfig) -> None:
        super().__init__()
        self.config = config
        self.dense = nn.Linear(config.patch_size, config.embed_dim)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.layers))
        self.register_buffer(
            "positions",
            positional_embeddings(config.num_patches, config.embed_dim),
            persistent=False,
        )
        self.positions: Tensor

    def embed(self, x: Tensor) -> Tensor:
        """Embed patches and add positions: ``(batch, minutes)`` to ``(batch, patches, dim)``.

        Parameters
        ----------
        x
            ``(batch, input_size)`` standardised minutes.

        Returns
        -------
        Tensor
            ``(batch, patches, embed_dim)``: each patch's linear embedding plus
            its sine/cosine position.
        """
        patches = x.view(x.shape[0], self.config.num_patches, self.config.patch_size)
        tokens: Tensor = self.dense(patches) + self.positions
        return tokens

    def run_blocks(
        self, tokens: Tensor, key_mask: Tensor | None, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Run the blocks; return the tokens and the last block's attention when asked.

        Parameters
        ----------
        tokens
            ``(batch, tokens, embed_dim)`` embedded patches (all of them, or
            only the visible ones during masked pretraining).
        key_mask
            ``(batch, tokens)``: True for tokens that may be attended to; all
            when None.
        need_weights
            Also return the last block's attention weights.

        Returns
        -------
        tuple
            The tokens ``(batch, tokens, embed_dim)`` after the last block, and
            its attention ``(batch, heads, tokens, tokens)`` or None.
        """
        weights = None
        last = len(self.layers) - 1
        for index, block in enumerate(self.layers):
            tokens, weights = block(tokens, key_mask, need_weights=need_weights and index == last)
        return tokens, weights

    def forward(
        self, x: Tensor, key_mask: Tensor | None = None, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Encode standardised weeks.

        Parameters
        ----------
        x
            ``(batch, 10080)`` standardised minutes (non-worn minutes at 0).
        key_mask
            ``(batch, patches)``: True for patches to attend to; all when None.
        need_weights
            Also return the last block's attention ``(batch, heads, patches, patches)``.

        Returns
        -------
        tuple
            Tokens ``(batch, patches, dim)`` and the attention (or None).
        """
        return self.run_blocks(self.embed(x), key_mask, need_weights=need_weights)


def attended_patches(wear: Tensor, patch_size: int) -> Tensor:
    """Mark the patches a model attends to and pools: those worn at least half the time.

    A week with no such patch would leave nothing to attend to (a NaN); such
    weeks are never scored, but the arithmetic stays finite: all patches count.

    Parameters
    ----------
    wear
        ``(batch, minutes)`` wear.
    patch_size
        Minutes per patch.

    Returns
    -------
    Tensor
        ``(batch, patches)`` boolean.
    """
    mask = patch_wear(wear, patch_size)
    return mask | ~mask.any(dim=1, keepdim=True)


class PATClassifier(nn.Module):
    """The fine-tuning model: encoder, average pool, dropout, dense 128 (ReLU), one output.

    ``forward`` returns the logit; the official sigmoid output is
    ``torch.sigmoid`` of it (see :meth:`predict_proba`).

    Parameters
    ----------
    config
        The model shape, of the encoder and of the head's hidden layer.
    """

    def __init__(self, config: PATConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = PATEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.dense_128 = nn.Linear(config.embed_dim, config.head_units)
        self.output = nn.Linear(config.head_units, 1)

    def pool(self, tokens: Tensor, key_mask: Tensor | None) -> Tensor:
        """Average the tokens of worn patches (all tokens when no mask).

        Parameters
        ----------
        tokens
            ``(batch, patches, embed_dim)`` encoded patches.
        key_mask
            ``(batch, patches)``: True for the patches to average; None
            averages all.

        Returns
        -------
        Tensor
            ``(batch, embed_dim)`` mean token per week.
        """
        if key_mask is None:
            return tokens.mean(dim=1)
        weight = key_mask.to(tokens.dtype)[..., None]
        return (tokens * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)

    def forward(self, x: Tensor, wear: Tensor | None = None) -> Tensor:
        """Return logits ``(batch,)`` for standardised weeks and their wear ``(batch, 10080)``.

        Parameters
        ----------
        x
            ``(batch, 10080)`` standardised minutes (non-worn minutes at 0).
        wear
            ``(batch, 10080)`` wear; patches worn less than half the time are
            left out of attention and pooling. None treats every minute as worn.

        Returns
        -------
        Tensor
            ``(batch,)`` logits.
        """
        logits, _ = self.forward_with_attention(x, wear, need_weights=False)
        return logits

    def forward_with_attention(
        self, x: Tensor, wear: Tensor | None = None, *, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """Return logits and, when asked, the last block's attention ``(batch, heads, q, k)``.

        Parameters
        ----------
        x
            ``(batch, 10080)`` standardised minutes (non-worn minutes at 0).
        wear
            ``(batch, 10080)`` wear; patches worn less than half the time are
            left out of attention and pooling. None treats every minute as worn.
        need_weights
            Also return the last block's attention weights.

        Returns
        -------
        tuple
            ``(batch,)`` logits, and the attention ``(batch, heads, patches,
            patches)`` or None when not asked.
        """
        mask = None if wear is None else attended_patches(wear, self.config.patch_size)
        tokens, weights = self.encoder(x, mask, need_weights=need_weights)
        hidden = F.relu(self.dense_128(self.dropout(self.pool(tokens, mask))))
        return self.output(hidden).squeeze(-1), weights

    def predict_proba(self, x: Tensor, wear: Tensor | None = None) -> Tensor:
        """Return probabilities ``(batch,)`` (the official sigmoid output).

        Parameters
        ----------
        x
            ``(batch, 10080)`` standardised minutes (non-worn minutes at 0).
        wear
            ``(batch, 10080)`` wear, as for :meth:`forward`; None treats every
            minute as worn.

        Returns
        -------
        Tensor
            ``(batch,)`` sigmoid of the logits.
        """
        return torch.sigmoid(self.forward(x, wear))


class PATMaskedAutoencoder(nn.Module):
    """Masked-autoencoder pretraining of a :class:`PATEncoder`, as in the official notebooks.

    A share ``mask_ratio`` of the patches is removed before the encoder; the
    encoder sees only the visible ones. A learnt mask token fills the removed
    places, positions are added again, one transformer block decodes, and a
    dense layer with ``2 * tanh`` reconstructs every minute (bounded to two
    standard deviations). The loss is the mean squared error over every worn
    minute, visible and masked (the paper's best choice).

    Parameters
    ----------
    config
        The shape of the encoder and of the one decoding block.
    mask_ratio
        Share of each week's patches removed before the encoder, in ``(0, 1)``.
    """

    def __init__(self, config: PATConfig, mask_ratio: float = 0.9) -> None:
        super().__init__()
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1); got {mask_ratio}")
        self.config = config
        self.mask_ratio = mask_ratio
        self.encoder = PATEncoder(config)
        self.mask_token = nn.Parameter(torch.randn(1, 1, config.embed_dim) * 0.05)
        self.decoder = TransformerBlock(config)
        self.decoder_dense = nn.Linear(config.embed_dim, config.patch_size)

    def forward(
        self, x: Tensor, wear: Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Reconstruct standardised weeks.

        Parameters
        ----------
        x
            ``(batch, 10080)`` standardised minutes.
        wear
            ``(batch, 10080)`` wear; the loss counts worn minutes only.
        generator
            Random source of the masks (one permutation per week).

        Returns
        -------
        tuple of Tensor
            The reconstruction ``(batch, 10080)`` and the scalar loss.
        """
        config = self.config
        batch, patches = x.shape[0], config.num_patches
        visible_count = patches - round(self.mask_ratio * patches)
        order = torch.argsort(torch.rand(batch, patches, generator=generator, device=x.device), 1)
        visible = order[:, :visible_count]
        tokens = self.encoder.embed(x)
        dim = tokens.shape[-1]
        index = visible[..., None].expand(-1, -1, dim)
        seen = torch.gather(tokens, 1, index)
        mask = None
        if wear is not None:
            mask = torch.gather(patch_wear(wear, config.patch_size), 1, visible)
            mask = mask | ~mask.any(dim=1, keepdim=True)
        encoded, _ = self.encoder.run_blocks(seen, mask)
        full = self.mask_token.expand(batch, patches, dim).clone()
        full = full.scatter(1, index, encoded) + self.encoder.positions
        decoded, _ = self.decoder(full)
        reconstruction = 2.0 * torch.tanh(self.decoder_dense(decoded)).reshape(batch, -1)
        error = (reconstruction - x) ** 2
        if wear is None:
            return reconstruction, error.mean()
        weight = wear.to(x.dtype)
        return reconstruction, (error * weight).sum() / weight.sum().clamp_min(1.0)
