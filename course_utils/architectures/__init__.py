"""The CNNs of chapter 6 as PyTorch modules, at their real sizes and without weights.

    from course_utils import architectures
    model = architectures.resnet(50)

Builders: alexnet, vgg16, vgg19 (stacks.py), googlenet (inception.py), resnet (18/34/50/101/152)
and resnext50 (with se_reduction=16: SE-ResNeXt) (residual.py), mobilenet (mobile.py); small
CPU-sized nets staged_cnn and mnist_resnet (small.py). Their blocks are in blocks.py.
"""

from course_utils.architectures.inception import googlenet
from course_utils.architectures.mobile import mobilenet
from course_utils.architectures.residual import resnet, resnext50
from course_utils.architectures.small import mnist_resnet, mnist_vgg, staged_cnn
from course_utils.architectures.stacks import alexnet, vgg16, vgg19

__all__ = ["alexnet", "googlenet", "mnist_resnet", "mnist_vgg", "mobilenet", "resnet", "resnext50",
           "staged_cnn", "vgg16", "vgg19"]
