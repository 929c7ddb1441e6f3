"""The digits example's graded code: a small convolutional network for MNIST and a function that counts parameters."""

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


def count_parameters(model):
    """The number of numbers ``model`` learns: the elements of all its parameters (weights and biases)."""
    total = sum([p.numel() for p in model.parameters()])  # blank: args
    return total
