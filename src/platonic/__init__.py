"""platonic: put the latent spaces of foundation MLIPs side by side.

Pipeline, one sub-package per stage::

    datasets -> models -> extract -> store -> anchors -> project -> compare
"""

__version__ = "0.1.0"
