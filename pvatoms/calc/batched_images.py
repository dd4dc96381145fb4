"""The images of a nudged elastic band in one model call per band step (:mod:`pvatoms.calc.batched`).

ASE's NEB asks every image for its forces in turn. Here every image gets a calculator of one
:class:`ImageGroup`: the first image asked after the optimiser moved the band evaluates all the
images that moved, together (one batched call, :meth:`BatchedMLIP.static`); the others read their
results. The numbers are those of one calculator per image (same model, same float32 arithmetic).

>>> from ase.mep import NEB
>>> from pvatoms.calc.batched import BatchedMLIP
>>> engine = BatchedMLIP("sevennet", progress=False)                      # doctest: +SKIP
>>> for image, calc in zip(images, ImageGroup(engine).calculators(images)):  # doctest: +SKIP
...     image.calc = calc
>>> NEB(images, climb=True, allow_shared_calculator=False).get_forces()  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


def _key(atoms) -> bytes:
    return (np.ascontiguousarray(atoms.positions).tobytes() + np.ascontiguousarray(atoms.cell.array).tobytes()
            + np.ascontiguousarray(atoms.numbers).tobytes())


class ImageGroup:
    """Batched evaluation of a band's images. ``engine``: a :class:`~pvatoms.calc.batched.BatchedMLIP`."""

    def __init__(self, engine):
        self.engine, self.images, self.cache = engine, [], {}
        self.calls = 0                  # batched evaluations made

    def calculators(self, images) -> list:
        """One calculator per image (attach them as ``image.calc``)."""
        self.images = list(images)
        return [ImageCalculator(self, k) for k in range(len(self.images))]

    def results_for(self, k: int, atoms) -> dict:
        """Energy (eV), forces (eV/Å) and stress of image ``k`` at ``atoms``' geometry; evaluates every
        image whose geometry changed since its last evaluation, in one call."""
        if self.cache.get(k, (None,))[0] == _key(atoms):
            return self.cache[k][1]
        todo = {k: atoms}
        for j, image in enumerate(self.images):
            if j != k and self.cache.get(j, (None,))[0] != _key(image):
                todo[j] = image
        order = sorted(todo)
        outcomes = self.engine.static([todo[j].copy() for j in order])
        self.calls += 1
        for j, oc in zip(order, outcomes):
            if oc.ok:
                self.cache[j] = (_key(todo[j]), {"energy": oc.energy, "forces": oc.forces, "stress": oc.stress})
            elif j == k:
                raise RuntimeError(f"image {k}: {oc.error}")
        return self.cache[k][1]


class ImageCalculator(Calculator):
    """The calculator of one image of an :class:`ImageGroup`."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, group: ImageGroup, index: int, **kwargs):
        super().__init__(**kwargs)
        self.group, self.index = group, index

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        r = self.group.results_for(self.index, self.atoms)
        self.results = {"energy": r["energy"], "free_energy": r["energy"], "forces": np.array(r["forces"])}
        if r["stress"] is not None:
            self.results["stress"] = np.array(r["stress"])
