"""Structure builders. They know nothing about calculators.

- :func:`cspbbr3`: bulk CsPbBr3 (Pnma, tetragonal, cubic)
- :func:`ruddlesden_popper`: Cs(n+1)Pb(n)Br(3n+1), n = 1, 2, 3
- :func:`rp_interface`: coherent RP / Pnma phase-boundary supercell with region labels
- :func:`rp_interface_pb`: the same with an fcc Pb cluster on a boundary (region ``cluster``)
- :func:`point_defects`: symmetry-distinct vacancies, interstitials, antisites, Schottky pairs
- :func:`neb_endpoints`, :func:`vacancy_hop`: vacancy-migration endpoint pairs (same atom order)
- :func:`slab`, :func:`attach_ligands`, :func:`ligand_library`: terminated slabs and ligand shells
- :func:`nanocrystal`: ligand-capped CsPbBr3 nanocubes with RP inclusions and Pb clusters
"""

from pvatoms.build.bulk import cspbbr3
from pvatoms.build.interface import rp_interface, rp_interface_pb
from pvatoms.build.rp import ruddlesden_popper

__all__ = ["cspbbr3", "ruddlesden_popper", "rp_interface", "rp_interface_pb"]

from pvatoms.build.defects import defects_supercell, point_defects  # noqa: E402

from pvatoms.build.migration import neb_endpoints, vacancy_hop  # noqa: E402

__all__ += ["point_defects", "defects_supercell", "neb_endpoints", "vacancy_hop"]

from pvatoms.build.ligand_library import get_ligand, ligand_library  # noqa: E402
from pvatoms.build.ligands import attach_ligands  # noqa: E402
from pvatoms.build.nanocrystal import nanocrystal  # noqa: E402
from pvatoms.build.slab import slab  # noqa: E402

__all__ += ["slab", "ligand_library", "get_ligand", "attach_ligands", "nanocrystal"]
