"""Runtime of localmup: everything a generated trainer imports.

Generated modules use `GraphNetwork`, `Node`, `Scale`, `Scaled` and `trainer.main`; the
command line and the tests also use `trainer.build_trainer`, `trainer.run` and the datasets.
"""

from . import trainer
from .network import GraphNetwork, Node, Scale, Scaled

__all__ = ["GraphNetwork", "Node", "Scale", "Scaled", "trainer"]
