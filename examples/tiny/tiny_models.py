"""The tiny example's graded class, a network that doubles a vector of WIDTH numbers, and its graded function,
which counts the numbers a network learns."""

import torch
import torch.nn as nn

WIDTH = 4


class Doubler(nn.Module):
    """One linear layer from WIDTH numbers to WIDTH numbers, its weight twice the identity and its bias zero."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(WIDTH, WIDTH)  # blank: args
        with torch.no_grad():
            self.linear.weight.copy_(2 * torch.eye(WIDTH))
            self.linear.bias.zero_()

    def forward(self, x):
        y = self.linear(x)  # blank: args
        return y


def count_parameters(model):
    """How many numbers ``model`` learns: the elements of all its parameters."""
    count = sum([p.numel() for p in model.parameters()])  # blank: args
    return count
