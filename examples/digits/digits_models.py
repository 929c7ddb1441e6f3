"""The digits example's code: a small convolutional network for MNIST (graded), a fully connected one to compare it
with (given) and a function that counts parameters (graded)."""

import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    """Two 3x3 convolutions, each followed by ReLU and 2x2 max pooling, then one linear layer to the 10 digits.

    conv1: 1 channel -> ``width`` channels, padding 1 (28x28 stays 28x28, pooled to 14x14); conv2: ``width`` ->
    ``2 * width`` channels, padding 1 (14x14, pooled to 7x7); fc: the ``2 * width * 7 * 7`` numbers -> 10 logits.
    """

    def __init__(self, width=8):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)  # blank: args, padding
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)  # blank: args, padding
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * width * 7 * 7, 10)  # blank: args

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(x.flatten(1))


class DenseNet(nn.Module):
    """Given, not graded: the fully connected network SmallCNN is compared with, ``hidden`` units in one layer."""

    def __init__(self, hidden=100):
        super().__init__()
        self.hidden = nn.Linear(28 * 28, hidden)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def count_parameters(model):
    """The number of numbers ``model`` learns: the elements of all its parameters (weights and biases)."""
    total = sum([p.numel() for p in model.parameters()])  # blank: args
    return total
