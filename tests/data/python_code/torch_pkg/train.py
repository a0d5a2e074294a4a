import argparse

import torch
from torch import optim

from models.net import ConvNet
import utils

parser = argparse.ArgumentParser(description="CIFAR-10 training")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--lr", type=float, default=0.01)
args = parser.parse_args()

model = ConvNet(num_classes=10)
optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
loader = utils.make_loader(batch_size=128)
for epoch in range(args.epochs):
    for images, labels in loader:
        optimizer.zero_grad()
        loss = utils.criterion(model(images), labels)
        loss.backward()
        optimizer.step()
