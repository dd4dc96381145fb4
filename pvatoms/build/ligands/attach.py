"""attach_ligands: the public entry point (checks the input, chooses the sites, places the ligands,
assembles the structure and its report). See :mod:`pvatoms.build.ligands` for the model."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pvatoms.build.common import set_provenance
from pvatoms.build.ligand_library import Ligand, get_ligand
from pvatoms.build.ligands.assemble import assemble, neutralise
from pvatoms.build.ligands.packing import Placer
from pvatoms.build.ligands.parameters import BINDINGS, SITES
from pvatoms.build.ligands.sites import default_site, find_sites
from pvatoms.build.ligands.surface import ensure_layers, fit_cell
from pvatoms.build.slab import net_formal_charge, set_formal_charges, sort_atoms
from pvatoms.errors import InputError, check_choice


def attach_ligands(atoms: Atoms, ligand, coverage: float, site: str | None = None,
                   binding: str = "monodentate", seed: int = 0, neutral: bool = False,
                   exclude_near=None) -> Atoms:
    """Put ``ligand`` on a fraction ``coverage`` of the surface ``site`` sites of ``atoms``.

    Parameters
    ----------
    atoms : a slab from :func:`slab` or a dot from :func:`nanocrystal` (any structure with
        ``arrays['layer']`` (0 = outermost plane) works; for an unlabelled slab with vacuum along c
        the planes are found from the heights).
    ligand : library name or alias (``pvatoms ligands list``) or a :class:`Ligand`.
    coverage : fraction of the available sites that get a ligand, 0 <= coverage <= 1.
    site : 'cs', 'pb' or 'br-vacancy' (default: the ligand's first site the surface offers).
    binding : 'monodentate' or 'bidentate' (carboxylates; chelating one Pb).
    seed : random seed of the site choice (same seed, same structure).
    neutral : compensate the net formal charge the ligands leave (see the module docstring).
    exclude_near : optional list of (center (3,), radius Å) spheres; sites whose ligand would come
        closer than 4 Å to one are not available (the Pb cluster of a degraded dot).

    Returns a new :class:`ase.Atoms`; the report (sites, count, charges, removed atoms, distances,
    H-bond and anchor-bond geometry) is appended to ``atoms.info['ligands']``.
    Example: ``attach_ligands(slab('pnma', layers=3, termination='PbBr2'), 'acetate', 1.0, 'pb')``.
    """
    lig = ligand if isinstance(ligand, Ligand) else get_ligand(ligand)
    try:
        cov = float(coverage)
    except (TypeError, ValueError):
        raise InputError(f"coverage must be a number between 0 and 1, got {coverage!r}") from None
    if not 0.0 <= cov <= 1.0:
        raise InputError(f"coverage is a fraction of the available sites and must lie in [0, 1], got {coverage!r}")
    check_choice("binding", binding, BINDINGS)
    if binding == "bidentate" and lig.kind != "carboxylate":
        raise InputError(f"binding 'bidentate' is for carboxylates; {lig.name} is a {lig.kind} "
                         "(valid: monodentate)")
    if site is not None:
        check_choice("site", site, SITES)
        if site not in lig.sites:
            raise InputError(f"{lig.name} ({lig.kind}) cannot bind at site {site!r}; valid sites for it: "
                             f"{', '.join(lig.sites)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed must be an integer, got {seed!r}") from None
    work = atoms.copy()
    ensure_layers(work)
    set_formal_charges(work)
    q_before = net_formal_charge(work)
    if site is None:
        site = default_site(work, lig)
    sites = find_sites(work, site, exclude_near=exclude_near, reach=lig.info["length"] + 2.0)
    if len(sites) == 0:
        hint = {"cs": "a CsBr-terminated surface (Cs in the outermost plane)",
                "pb": "a PbBr2-terminated surface (outer Pb with five Br)",
                "br-vacancy": "a CsBr-terminated surface (outer Br bound to one Pb)"}[site]
        raise InputError(f"no available {site!r} sites on this structure for {lig.name}: the site needs "
                         f"{hint}; valid sites for {lig.name}: {', '.join(lig.sites)}")
    n_lig = int(np.floor(cov * len(sites) + 0.5))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sites))
    placer = Placer(work, lig, sites, binding)
    chosen, poses = placer.place(order, n_lig)
    out, report = assemble(work, lig, sites, binding, chosen, poses, placer.n_env)
    report.update({"site": site, "binding": binding if lig.kind == "carboxylate" else None,
                   "coverage_requested": cov, "n_sites": len(sites),
                   "n_sites_excluded": int(sites.excluded), "seed": seed,
                   "coverage": round(len(chosen) / len(sites), 6) if len(sites) else 0.0,
                   "net_formal_charge_before": q_before})
    q = net_formal_charge(out)
    report["net_formal_charge_after_ligands"] = q
    if neutral and q != 0:
        out, removed = neutralise(out, q, report["anchor_positions"])
        report["compensation"] = removed
    else:
        report["compensation"] = None
    report["neutral_requested"] = bool(neutral)
    report["net_formal_charge"] = net_formal_charge(out)
    report.pop("anchor_positions")
    fit_cell(out)
    out = sort_atoms(out)
    hist = list(atoms.info.get("ligands", []))
    hist.append(report)
    out.info["ligands"] = hist
    prov = atoms.info.get("provenance")
    set_provenance(out, "pvatoms.build.attach_ligands",
                   {"ligand": lig.name, "coverage": cov, "site": site, "binding": binding, "seed": seed,
                    "neutral": bool(neutral)}, (prov or {}).get("reference"), parent=prov)
    return out

