"""Imports every family file so that its variants register. Add one line per new family."""

from ..tasks.detect import model as _fcos  # noqa: F401  (the detector: cnnlab.tasks.detect)
from ..tasks.segment import zoo as _segment_zoo  # noqa: F401  (fcn32s/16s/8s, unet: task='segment')
from . import (
    airbench,  # noqa: F401
    alexnet,  # noqa: F401
    bn_inception,  # noqa: F401
    cifar_resnet,  # noqa: F401
    cifar_vgg,  # noqa: F401
    densenet,  # noqa: F401
    efficientnet,  # noqa: F401
    googlenet,  # noqa: F401
    inception,  # noqa: F401
    inception_v4,  # noqa: F401
    lenet,  # noqa: F401
    linear,  # noqa: F401
    mcunet,  # noqa: F401
    mobilenet,  # noqa: F401
    nfnet,  # noqa: F401
    nin,  # noqa: F401
    preact_resnet,  # noqa: F401
    resnet,  # noqa: F401
    shufflenet,  # noqa: F401
    vgg,  # noqa: F401
    vit,  # noqa: F401
)
