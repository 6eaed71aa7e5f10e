"""Optimizers and learning-rate schedules with torch.optim's names, arguments and update equations.

    opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)

Every optimizer takes an iterable of tensors or of parameter groups (dicts with "params" and their
own hyperparameters) and exposes `param_groups`, `state[p]`, `state_dict()`/`load_state_dict()`.
"""
from tinygraph.optim import lr_scheduler
from tinygraph.optim.adadelta import Adadelta
from tinygraph.optim.adagrad import Adagrad
from tinygraph.optim.adam import Adam, AdamW
from tinygraph.optim.optimizer import Optimizer, ParameterState
from tinygraph.optim.rmsprop import RMSprop
from tinygraph.optim.sgd import SGD

__all__ = ["Optimizer", "ParameterState", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]
