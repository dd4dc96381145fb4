"""Jobs: plain functions that run one calculation in one folder and return its result document.

>>> from pvatoms.jobs import relax, static, neb, phonons
>>> from pvatoms.jobs import relax_batch, static_batch     # many structures per model call
"""

from pvatoms.jobs.batch import relax_batch, static_batch
from pvatoms.jobs.dielectric import dielectric
from pvatoms.jobs.neb import nearest_vacancy_hops, neb, vacancy_hop
from pvatoms.jobs.phonons import phonon_analysis, phonon_displacements, phonons
from pvatoms.jobs.relax import relax
from pvatoms.jobs.static import static

__all__ = ["dielectric", "relax", "static", "neb", "phonons", "vacancy_hop", "nearest_vacancy_hops",
           "phonon_displacements", "phonon_analysis", "relax_batch", "static_batch"]
