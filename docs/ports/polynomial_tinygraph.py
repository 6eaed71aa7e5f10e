"""PyTorch's tutorial "Learning PyTorch with Examples", in tinygraph: fit y = sin(x) on [−π, π] with a cubic.

Seven ways, one per section of the tutorial: tensors with hand-written gradients, autograd, a custom
autograd.Function (the Legendre polynomial P3), nn, optim, a custom nn.Module and dynamic control
flow (a random number of extra terms each forward pass). This is polynomial_torch.py with
the imports changed. `python polynomial_tinygraph.py --steps 2000` runs each section for 2000 steps
(the tutorial's count; the dynamic one for 15 times as many, as the tutorial's 30000).
"""
import argparse
import math
import random

import tinygraph as torch

dtype = torch.float
device = torch.device("cpu")


def data():
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    return x, torch.sin(x)


def with_tensors(steps):
    """Forward and backward by hand: the gradients of the squared error, written out."""
    x, y = data()
    a = torch.randn((), device=device, dtype=dtype)
    b = torch.randn((), device=device, dtype=dtype)
    c = torch.randn((), device=device, dtype=dtype)
    d = torch.randn((), device=device, dtype=dtype)
    learning_rate = 1e-6
    for t in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    print(f'tensors:  y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + {d.item():.4f} x^3, loss {loss:.2f}')
    return loss


def with_autograd(steps):
    """The same fit; backward() computes the gradients."""
    x, y = data()
    a = torch.randn((), dtype=dtype, requires_grad=True)
    b = torch.randn((), dtype=dtype, requires_grad=True)
    c = torch.randn((), dtype=dtype, requires_grad=True)
    d = torch.randn((), dtype=dtype, requires_grad=True)
    learning_rate = 1e-6
    for t in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f'autograd: y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + {d.item():.4f} x^3, loss {loss.item():.2f}')
    return loss.item()


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = ½(5x³ − 3x), with its derivative P3'(x) = 1.5(5x² − 1) written by hand."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def with_function(steps):
    """y = a + b·P3(c + d·x), through the custom Function."""
    x, y = data()
    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    for t in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f'Function: y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x), loss {loss.item():.2f}')
    return loss.item()


def features():
    x, y = data()
    p = torch.tensor([1, 2, 3])
    return x.unsqueeze(-1).pow(p), y          # (2000, 3): x, x², x³


def with_nn(steps):
    """A Linear layer on (x, x², x³); the update by hand over model.parameters()."""
    xx, y = features()
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction='sum')
    learning_rate = 1e-6
    for t in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    linear_layer = model[0]
    print(f'nn:       y = {linear_layer.bias.item():.4f} + {linear_layer.weight[:, 0].item():.4f} x + '
          f'{linear_layer.weight[:, 1].item():.4f} x^2 + {linear_layer.weight[:, 2].item():.4f} x^3, loss {loss.item():.2f}')
    return loss.item()


def with_optim(steps):
    """The same model, stepped by RMSprop."""
    xx, y = features()
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    for t in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    linear_layer = model[0]
    print(f'optim:    y = {linear_layer.bias.item():.4f} + {linear_layer.weight[:, 0].item():.4f} x + '
          f'{linear_layer.weight[:, 1].item():.4f} x^2 + {linear_layer.weight[:, 2].item():.4f} x^3, loss {loss.item():.2f}')
    return loss.item()


class Polynomial3(torch.nn.Module):
    """Four scalar parameters; forward evaluates the cubic."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f'y = {self.a.item():.4f} + {self.b.item():.4f} x + {self.c.item():.4f} x^2 + {self.d.item():.4f} x^3'


def with_module(steps):
    x, y = data()
    model = Polynomial3()
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    for t in range(steps):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f'Module:   {model.string()}, loss {loss.item():.2f}')
    return loss.item()


class DynamicNet(torch.nn.Module):
    """A cubic plus, on each forward pass, 0 to 2 more terms e·x⁴, e·x⁵ sharing one weight e."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f'y = {self.a.item():.4f} + {self.b.item():.4f} x + {self.c.item():.4f} x^2 + {self.d.item():.4f} x^3 '
                f'+ {self.e.item():.4f} x^4 ? + {self.e.item():.4f} x^5 ?')


def with_control_flow(steps):
    x, y = data()
    model = DynamicNet()
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    for t in range(steps):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f'dynamic:  {model.string()}, loss {loss.item():.2f}')
    return loss.item()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Learning PyTorch with Examples: fit sin(x) with a cubic')
    parser.add_argument('--steps', type=int, default=2000, help='steps per section (default: 2000)')
    parser.add_argument('--seed', type=int, default=0, help='seed of torch.manual_seed and random.seed')
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    return {'tensors': with_tensors(args.steps), 'autograd': with_autograd(args.steps),
            'Function': with_function(args.steps), 'nn': with_nn(args.steps), 'optim': with_optim(args.steps),
            'Module': with_module(args.steps), 'dynamic': with_control_flow(15 * args.steps)}


if __name__ == '__main__':
    main()
