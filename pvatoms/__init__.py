"""pvatoms: structures and DFT workflows for lead halide perovskites.

Data flows one way: ``pvatoms.build`` (structures) -> ``pvatoms.calc`` / ``pvatoms.jobs``
(calculations, result documents) -> ``pvatoms.analysis`` (tables, figures). ``pvatoms.fw`` is a
thin FireWorks layer over the jobs. The ``pvatoms`` command is a shell over these.
"""

__version__ = "0.1.0"

from pvatoms.errors import InputError

__all__ = ["InputError", "__version__"]
