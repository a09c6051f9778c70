"""SimDR / SA-SimDR human pose estimation on PaddlePaddle.

Modules are small and import Paddle lazily: codecs, transforms and metrics are pure numpy.
"""

__version__ = "0.1.0"
