import torch.nn as nn


class Backbone(nn.Module):
    """Shared parts of the program's models."""

    def freeze(self):
        for p in self.parameters():
            p.requires_grad = False
