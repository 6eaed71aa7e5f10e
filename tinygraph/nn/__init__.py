"""Modules and layers: models built from tinygraph ops, organised the way PyTorch users expect.

    class Net(nn.Module):
        def __init__(self, rng):
            super().__init__()
            self.fc = nn.Linear(64, 10, rng=rng)   # registered because it is a Module
        def forward(self, x):
            return self.fc(x)

A `Module` finds its parameters and submodules from attribute assignment, in assignment order;
`named_parameters()` gives dotted names ("fc.weight"). While a module's `__call__` runs,
`STATE.module_path` holds its dotted path ("conv", "layers.1"; None for the outermost module) and
a forward hook tags every node recorded meanwhile with it (`nn.module_path(t)`), so the drawing tools can group a graph
by module. Layers take torch.nn's names, arguments and defaults (nn.MaxPool stays as MaxPool2d's
old name); Dropout and BatchNorm read `training` (model.train() / model.eval()). Layers initialise
like PyTorch: uniform in ±1/√fan_in, drawn from the `numpy.random.Generator` you pass.
"""
from tinygraph.nn.layers import (AvgPool2d, Conv2d, Flatten, Identity, Linear, LogSoftmax, MaxPool, MaxPool2d,
                                  ModuleList, ReLU, Sequential, Sigmoid, Softmax, Tanh, as_tensor)
from tinygraph.nn.normalization import BatchNorm1d, BatchNorm2d, Dropout
from tinygraph.nn.loss import CrossEntropyLoss, MSELoss
from tinygraph.nn.loss import (BCELoss, BCEWithLogitsLoss, HuberLoss, KLDivLoss, L1Loss, NLLLoss,  # issue 20
                               SmoothL1Loss)
from tinygraph.nn.transposed import ConvTranspose2d, MaxUnpool2d
from tinygraph.nn.module import (IncompatibleKeys, Module, Parameter, StateDictError, module_path, node_module_class,
                                 node_module_path, parameter_name)
from tinygraph.nn import utils
from tinygraph.nn import functional  # import tinygraph.nn.functional as F: PyTorch's path to tinygraph.functional

__all__ = ["Module", "Parameter", "module_path", "IncompatibleKeys", "StateDictError",
           "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "MaxPool2d", "MaxPool",
           "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Flatten", "Identity", "Sequential", "ModuleList",
           "CrossEntropyLoss", "MSELoss", "as_tensor", "utils",
           "ConvTranspose2d", "MaxUnpool2d", "NLLLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss",
           "BCEWithLogitsLoss", "KLDivLoss"]
