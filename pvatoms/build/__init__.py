"""Structure builders. They know nothing about calculators.

- :func:`cspbbr3`: bulk CsPbBr3 (Pnma, tetragonal, cubic)
- :func:`ruddlesden_popper`: Cs(n+1)Pb(n)Br(3n+1), n = 1, 2, 3
- :func:`rp_interface`: coherent RP / Pnma phase-boundary supercell with region labels
- :func:`point_defects`: symmetry-distinct vacancies, interstitials, antisites, Schottky pairs
"""

from pvatoms.build.bulk import cspbbr3
from pvatoms.build.interface import rp_interface
from pvatoms.build.rp import ruddlesden_popper

__all__ = ["cspbbr3", "ruddlesden_popper", "rp_interface"]

from pvatoms.build.defects import defects_supercell, point_defects  # noqa: E402

__all__ += ["point_defects", "defects_supercell"]
