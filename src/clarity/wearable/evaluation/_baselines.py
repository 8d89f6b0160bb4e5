"""Baselines of the PAT paper, for evaluation only (never served).

Both read the same standardised week as PAT plus the wear mask as a second
channel (PAT masks non-worn patches; the baselines must be told too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BiLSTMBaseline", "CNNBaseline"]


def _channels(x: Tensor, wear: Tensor) -> Tensor:
    return torch.stack([x, wear.to(x.dtype)], dim=1)  # (batch, 2, minutes)


class CNNBaseline(nn.Module):
    """The official 1-D CNN: convolutions of 32 and 64 (kernel 3), pooling, dense 64, dropout 0.5.

    About 10.7K parameters, as the paper's "CNN-1D (10K)".
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 32, kernel_size=3)
        self.conv2 = nn.Conv1d(32, 64, kernel_size=3)
        self.dense = nn.Linear(64, 64)
        self.dropout = nn.Dropout(0.5)
        self.output = nn.Linear(64, 1)

    def forward(self, x: Tensor, wear: Tensor) -> Tensor:
        """Logits ``(batch,)`` for standardised weeks and their wear."""
        h = F.max_pool1d(F.relu(self.conv1(_channels(x, wear))), 2)
        h = F.max_pool1d(F.relu(self.conv2(h)), 2)
        pooled = h.mean(dim=-1)
        logits: Tensor = self.output(self.dropout(F.relu(self.dense(pooled)))).squeeze(-1)
        return logits


class BiLSTMBaseline(nn.Module):
    """A small bidirectional LSTM (32 units each way) over 10-minute means, dense 100.

    The official LSTM (50 units, one direction) steps through all 10,080
    minutes, which a CPU cannot train in useful time; 10-minute bins keep the
    daily rhythm (1,008 steps) at the same size (about 15.8K parameters).
    """

    def __init__(self, bin_minutes: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.bin_minutes = bin_minutes
        self.lstm = nn.LSTM(2, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, 100)
        self.output = nn.Linear(100, 1)

    def forward(self, x: Tensor, wear: Tensor) -> Tensor:
        """Logits ``(batch,)`` for standardised weeks and their wear."""
        channels = _channels(x, wear)
        binned = channels.view(x.shape[0], 2, -1, self.bin_minutes).mean(dim=-1).transpose(1, 2)
        states, _ = self.lstm(binned)
        logits: Tensor = self.output(F.relu(self.dense(states.mean(dim=1)))).squeeze(-1)
        return logits
