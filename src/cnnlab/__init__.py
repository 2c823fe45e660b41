"""cnnlab: convolutional neural networks from the lecture slides to deployment.

    >>> import cnnlab
    >>> model = cnnlab.create_model("lenet5")
    >>> cnnlab.list_models("resnet*")
    >>> result = cnnlab.fit(cnnlab.TrainConfig(model="lenet5", data="mnist-sample"))

Submodules: ``conv`` (the operation and its arithmetic), ``nn`` (building blocks), ``models``
(the zoo), ``analysis`` (complexity), ``data``, ``train``, ``evaluation``, ``predict``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import CnnlabError
from .models import create_model, list_models, model_card

# Heavier entry points are imported on first use, so `import cnnlab` stays fast.
_LAZY = {
    "summary": ("cnnlab.analysis", "summary"),
    "compare": ("cnnlab.analysis.compare", "compare"),
    # `cnnlab.train` is the training subpackage; the function that trains is `cnnlab.fit`
    "fit": ("cnnlab.train", "train"),
    "TrainConfig": ("cnnlab.train", "TrainConfig"),
    "load_recipe": ("cnnlab.train.recipes", "load_recipe"),
    "predict": ("cnnlab.predict", "predict"),
    "evaluate": ("cnnlab.evaluation", "evaluate"),
    "load_run": ("cnnlab.runs", "load_run"),
    "load_data": ("cnnlab.data", "load_data"),
    "DataOptions": ("cnnlab.data", "DataOptions"),
    "load_weights": ("cnnlab.models.weights", "load_weights"),
    # deployment: export / int8 / engines / bench (cnnlab.deploy), the microcontroller budget
    "export": ("cnnlab.deploy.export", "export"),
    "quantize": ("cnnlab.deploy.quantize", "quantize"),
    "make_runner": ("cnnlab.deploy.engines", "make_runner"),
    "bench": ("cnnlab.deploy.bench", "bench"),
    "mcu_budget": ("cnnlab.analysis.mcu", "mcu_budget"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


__all__ = ["CnnlabError", "__version__", "create_model", "list_models", "model_card", *_LAZY]
