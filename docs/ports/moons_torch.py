"""micrograd's demo, in PyTorch: a 2-16-16-1 MLP separates two interleaved half-moons with a max-margin loss.

As in micrograd's demo.ipynb: 100 points of make_moons(noise=0.1) with labels ±1, the SVM hinge
loss mean(relu(1 − y·score)) plus 1e-4·Σθ², 100 steps of full-batch gradient descent with the
learning rate falling from 1.0 to 0.1, then the decision boundary on a grid. The moons are made
here with NumPy (scikit-learn's recipe), so nothing needs downloading. moons_tinygraph.py is this
file with the imports changed.
"""
import argparse

import numpy as np
import torch
from torch import nn


def make_moons(n_samples=100, noise=0.1, seed=1):
    """Two half circles, the lower one shifted right and down, with Gaussian noise; labels 0 and 1."""
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer = np.stack([np.cos(np.linspace(0, np.pi, n_outer)), np.sin(np.linspace(0, np.pi, n_outer))], 1)
    inner = np.stack([1 - np.cos(np.linspace(0, np.pi, n_inner)), 0.5 - np.sin(np.linspace(0, np.pi, n_inner))], 1)
    X = np.concatenate([outer, inner]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    return X.astype(np.float32), y


def loss_and_accuracy(model, X, y):
    scores = model(X).squeeze(1)
    data_loss = (1 - y * scores).relu().mean()                       # the SVM "max-margin" loss
    reg_loss = 1e-4 * sum((p * p).sum() for p in model.parameters())  # L2 regularisation
    accuracy = ((y > 0) == (scores > 0)).float().mean()
    return data_loss + reg_loss, accuracy.item()


def main(argv=None):
    parser = argparse.ArgumentParser(description="micrograd's moons demo")
    parser.add_argument('--steps', type=int, default=100)
    parser.add_argument('--seed', type=int, default=1337)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    X_np, y_np = make_moons(n_samples=100, noise=0.1)
    X = torch.from_numpy(X_np)
    y = torch.from_numpy(y_np * 2.0 - 1).float()                      # labels −1 and +1

    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    print(model)
    print('number of parameters', sum(p.numel() for p in model.parameters()))

    for k in range(args.steps):
        total_loss, acc = loss_and_accuracy(model, X, y)
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / args.steps
        with torch.no_grad():
            for p in model.parameters():
                p -= learning_rate * p.grad
        if k % 10 == 0 or k == args.steps - 1:
            print(f'step {k} loss {total_loss.item():.6f}, accuracy {acc * 100:.1f}%')

    # The decision boundary: the model's sign on a grid around the data.
    xs, ys = np.meshgrid(np.arange(-2.0, 3.0, 0.25), np.arange(-1.5, 2.0, 0.25))
    grid = torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32))
    with torch.no_grad():
        inside = (model(grid).squeeze(1) > 0).numpy().reshape(xs.shape)
    for row in inside[::-1]:
        print(''.join('#' if v else '.' for v in row))
    return total_loss.item(), acc


if __name__ == '__main__':
    main()
