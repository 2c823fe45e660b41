"""Imports every family file so that its variants register. Add one line per new family."""

from . import lenet  # noqa: F401
from . import mobilenet  # noqa: F401
from . import efficientnet  # noqa: F401
from . import resnet  # noqa: F401
from . import shufflenet  # noqa: F401
from . import preact_resnet  # noqa: F401
from . import cifar_resnet  # noqa: F401
from . import cifar_vgg  # noqa: F401
from . import airbench  # noqa: F401
from . import densenet  # noqa: F401
from . import nfnet  # noqa: F401
from . import vit  # noqa: F401
from . import mcunet  # noqa: F401
from . import alexnet  # noqa: F401
from . import vgg  # noqa: F401
from . import nin  # noqa: F401
from . import googlenet  # noqa: F401
from . import inception  # noqa: F401
from . import inception_v4  # noqa: F401
from . import bn_inception  # noqa: F401
from . import linear  # noqa: F401
from ..tasks.detect import model as _fcos  # noqa: F401,E402  (the detector: cnnlab.tasks.detect)
