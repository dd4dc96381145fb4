"""Band-edge and defect-state localization on real interface / vacancy structures with synthetic
densities (Gaussians placed where the test wants them), written to cube files like the band-edge
job writes them."""

import argparse
import copy
import json

import numpy as np
import pytest

from pvatoms import schema
from pvatoms.analysis.localization import (analyse_band_edges, analyse_densities, edge_statement, ipr,
                                           locate, periodic_centroid, periodic_offset, planar_average,
                                           region_fractions, region_grid, stacking_geometry,
                                           volume_fractions)
from pvatoms.build import cspbbr3, point_defects, rp_interface
from pvatoms.cli.analyse import add_band_edges_arguments, run_band_edges
from pvatoms.errors import InputError
from pvatoms.jobs.band_edges import fractions as job_fractions
from pvatoms.io import write_cube

SHAPE = (12, 12, 96)


@pytest.fixture(scope="module")
def iface():
    return rp_interface(1, 1, 3)


def heights(atoms, shape):
    """Height along atoms.info['stacking_normal'] of every grid point (Å), straight from the
    Cartesian positions."""
    f = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)
    return (f @ np.asarray(atoms.cell)) @ np.asarray(atoms.info["stacking_normal"])


def slab(atoms, shape, z0, sigma):
    """Density uniform in-plane, Gaussian (periodic) in height around z0."""
    L = atoms.info["interface"]["period_along_normal"]
    d = (heights(atoms, shape) - z0 + L / 2) % L - L / 2
    return np.exp(-d ** 2 / (2 * sigma ** 2))


def blob(atoms, shape, centre, sigma):
    """3D Gaussian around a Cartesian point, minimum image."""
    cell = np.asarray(atoms.cell)
    f = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)
    df = f - np.linalg.solve(cell.T, np.asarray(centre))
    df -= np.rint(df)
    r2 = np.einsum("...i,...i->...", df @ cell, df @ cell)
    return np.exp(-r2 / (2 * sigma ** 2))


def centres(atoms):
    """Middle of the RP block and of the perovskite block, from the builder's boundary planes."""
    p0, p1 = sorted(atoms.info["boundary_planes"])
    L = atoms.info["interface"]["period_along_normal"]
    return {"rp": (p0 + p1) / 2, "perovskite": (p1 + (L - (p1 - p0)) / 2) % L}


def make_result(folder, atoms, densities, cube_atoms=None, status="completed", job="band-edges"):
    """A band-edges result folder: cube files + result.json, as the band-edge job leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = schema.new_document(job, {"name": "synthetic", "model": "gaussian test densities",
                                     "version": None}, atoms)
    doc.update(status=status, structure=schema.atoms_to_dict(atoms),
               reason=None if status == "completed" else "KohnShamConvergenceError: SCF did not converge")
    for name, rho in densities.items():
        vol = atoms.get_volume()
        write_cube(folder / f"{name}.cube", cube_atoms or atoms, rho / (rho.mean() * vol))
        doc["files"][name] = f"{name}.cube"
    schema.save(doc, folder)
    return folder


# ---------------------------------------------------------------- fractions and regions

def test_region_fractions_sum_to_one_and_match_the_job_partition(iface):
    rng = np.random.default_rng(1)
    rho = rng.random(SHAPE) ** 3
    names, codes = region_grid(iface, SHAPE)
    f = region_fractions(rho, names, codes)
    assert names == ["rp", "boundary", "perovskite"]
    assert sum(f.values()) == pytest.approx(1.0, abs=1e-12)
    assert sum(volume_fractions(names, codes).values()) == pytest.approx(1.0, abs=1e-12)
    job = job_fractions(iface, rho, labels=iface.arrays["region"])       # the band-edge job's numbers
    assert f == pytest.approx(job, abs=2e-6)
    res = analyse_densities(iface, {"vbm": rho, "cbm": rho[::-1]})
    for st in res["states"].values():
        assert sum(st["region_fractions"].values()) == pytest.approx(1.0, abs=1e-12)
        assert sum(st["element_fractions"].values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("region,sigma", [("rp", 0.7), ("perovskite", 1.5)])
def test_a_density_placed_in_one_region_is_reported_there(iface, region, sigma):
    z0 = centres(iface)[region]
    res = analyse_densities(iface, {"defect": slab(iface, SHAPE, z0, sigma)})
    st = res["states"]["defect"]
    assert st["region_fractions"][region] > 0.85
    assert max(st["region_fractions"], key=st["region_fractions"].get) == region
    assert locate(st["region_fractions"], res["volume_fractions"])["region"] == region
    L = res["geometry"]["period"]
    assert abs(periodic_offset(z0, st["centroid"], L)) < 0.05
    assert st["concentration"] > 0.9
    # the planes the shading marks as this region include the centre of the density
    k = int(round(z0 / L * SHAPE[2])) % SHAPE[2]
    assert res["slab_regions"][k] == region


# ---------------------------------------------------------------- statements

def test_statement_from_numbers_example():
    vols = {"rp": 0.2, "boundary": 0.3, "perovskite": 0.5}
    fr = {"cbm": {"rp": 0.71, "boundary": 0.19, "perovskite": 0.10},
          "vbm": {"rp": 0.06, "boundary": 0.30, "perovskite": 0.64}}
    out = edge_statement(fr, vols, offset=-9.84)
    assert out["statement"] == ("CBM 71 % on the RP side, VBM 64 % on the perovskite side: spatially "
                                "separated; centroids 9.8 Å apart along the stacking axis")
    assert out["separated"] is True
    # a density spread like the volume itself lives nowhere in particular
    fr["vbm"] = dict(vols)
    out = edge_statement(fr, vols)
    assert out["separated"] is None and "VBM spread over the regions" in out["statement"]


def test_statement_separated_vs_same_side_on_synthetic_densities(iface):
    c = centres(iface)
    sep = analyse_densities(iface, {"vbm": slab(iface, SHAPE, c["perovskite"], 1.8),
                                    "cbm": slab(iface, SHAPE, c["rp"], 0.8)})
    assert sep["separation"]["separated"] is True
    f_c = sep["states"]["cbm"]["region_fractions"]["rp"]
    f_v = sep["states"]["vbm"]["region_fractions"]["perovskite"]
    assert sep["statement"].startswith(f"CBM {100 * f_c:.0f} % on the RP side, VBM {100 * f_v:.0f} % on "
                                       "the perovskite side: spatially separated")
    L = sep["geometry"]["period"]
    expected = abs(periodic_offset(c["perovskite"], c["rp"], L))
    assert abs(sep["centroid_offset"]) == pytest.approx(expected, abs=0.1)

    same = analyse_densities(iface, {"vbm": slab(iface, SHAPE, c["perovskite"], 1.8),
                                     "cbm": slab(iface, SHAPE, c["perovskite"] + 1.0, 1.2)})
    assert same["separation"]["separated"] is False
    assert "on the perovskite side: on the same side, not separated" in same["statement"]
    assert abs(same["centroid_offset"]) == pytest.approx(1.0, abs=0.1)

    spread = analyse_densities(iface, {"vbm": np.ones(SHAPE), "cbm": slab(iface, SHAPE, c["rp"], 0.8)})
    assert spread["separation"]["separated"] is None
    assert "no clear separation" in spread["statement"]


# ---------------------------------------------------------------- geometry, IPR, centroid

def test_planar_average_in_an_oblique_cell():
    atoms = rp_interface(1, 2, 4)                         # M even: oblique stacking vector
    assert np.abs(atoms.cell.cellpar()[3:] - 90).max() > 1.0   # really oblique
    geo = stacking_geometry(atoms)
    assert geo["normal"] == pytest.approx(atoms.info["stacking_normal"], abs=1e-9)
    L = atoms.info["interface"]["period_along_normal"]
    assert geo["period"] == pytest.approx(L, abs=1e-9)
    shape = (10, 10, 120)
    g = lambda z: 1.0 + np.cos(2 * np.pi * z / L) + 0.5 * np.sin(6 * np.pi * z / L)   # noqa: E731
    rho = g(heights(atoms, shape))
    z, avg = planar_average(rho, geo)
    assert avg == pytest.approx(g(z), abs=1e-12)          # planes of constant height exactly
    assert geo["area"] * np.sum(avg) * L / shape[2] == pytest.approx(rho.mean() * atoms.get_volume())
    with pytest.raises(InputError, match="not normal to two cell vectors"):
        stacking_geometry(atoms, normal=[0, 1, 1])


def test_ipr_and_centroid_conventions(iface):
    assert ipr(np.ones(SHAPE)) == pytest.approx(1.0)
    box = np.zeros(SHAPE)
    box[:6, :6, :24] = 2.0                                 # 1/16 of the cell
    assert ipr(box) == pytest.approx(16.0) and ipr(5 * box) == pytest.approx(16.0)
    L = 30.0
    z = np.linspace(0, L, 300, endpoint=False)
    w = np.exp(-((z - 0.5 + L / 2) % L - L / 2) ** 2 / 2)   # straddles the cell edge
    c, conc = periodic_centroid(z, w, L)
    assert c == pytest.approx(0.5, abs=1e-6) and conc > 0.9
    assert periodic_offset(1.0, L - 1.0, L) == pytest.approx(-2.0)


# ---------------------------------------------------------------- defect states

@pytest.fixture(scope="module")
def vacancy():
    host = cspbbr3()
    d = point_defects(host, vacancies=["Br"], supercell=(2, 1, 2))[0]
    return d.atoms, np.array(d.position), host


def test_defect_state_localized_vs_bulk_like(vacancy):
    atoms, site, _ = vacancy
    shape = (36, 26, 36)
    pb = [p for p, s in zip(atoms.positions, atoms.get_chemical_symbols()) if s == "Pb"]
    bulk = sum(blob(atoms, shape, p, 1.0) for p in pb)
    res = analyse_densities(atoms, {"cbm": bulk, "defect": blob(atoms, shape, site, 1.2)},
                            site=site, radius=4.0)
    d, b = res["states"]["defect"], res["states"]["cbm"]
    assert d["localized"] is True and b["localized"] is False
    assert d["ipr"] > 3 * b["ipr"]
    assert d["fraction_within_radius"] > 0.95
    assert b["fraction_within_radius"] < 0.3
    assert d["uniform_fraction"] == pytest.approx(4 / 3 * np.pi * 4.0 ** 3 / atoms.get_volume(), rel=0.05)
    assert d["localization"].endswith(": localized") and "within 4.0 Å of the defect site" in d["localization"]
    assert b["localization"].endswith("delocalized (bulk-like)")


def test_defect_analysis_from_files_with_a_reference_result(vacancy, tmp_path):
    atoms, site, host = vacancy
    shape = (36, 26, 36)
    from pvatoms.build import defects_supercell
    perfect = defects_supercell(host, (2, 1, 2))
    pb = [p for p, s in zip(perfect.positions, perfect.get_chemical_symbols()) if s == "Pb"]
    ref = make_result(tmp_path / "perfect", perfect, {"cbm": sum(blob(perfect, shape, p, 1.0) for p in pb)})
    vac = make_result(tmp_path / "V_Br", atoms, {"cbm": blob(atoms, shape, site, 1.2)})
    ap = argparse.ArgumentParser()
    add_band_edges_arguments(ap)
    args = ap.parse_args([str(vac), "-o", str(tmp_path / "out"), "--defect-site", *map(str, site),
                          "--reference", str(ref), "--json"])
    report = run_band_edges(args)
    st = report["results"][0]["states"]["cbm"]
    assert st["localized"] is True and st["ipr_reference"]["source"] == "CBM of perfect"
    assert st["fraction_within_radius"] > 0.95
    assert report["rows"][0]["localized"] is True
    # without a reference and with a single state, no verdict
    report = analyse_band_edges([vac], tmp_path / "out2")
    assert report["results"][0]["states"]["cbm"]["localized"] is None


# ---------------------------------------------------------------- whole analysis from result folders

def test_band_edge_analysis_from_result_folders(iface, tmp_path):
    c = centres(iface)
    dens = {"vbm": slab(iface, SHAPE, c["perovskite"], 1.8), "cbm": slab(iface, SHAPE, c["rp"], 0.8)}
    folder = make_result(tmp_path / "boundary-edges", iface, dens)
    ap = argparse.ArgumentParser()
    add_band_edges_arguments(ap)
    report = run_band_edges(ap.parse_args([str(folder), "-o", str(tmp_path / "out")]))
    res = report["results"][0]
    direct = analyse_densities(iface, dens)
    assert res["statement"] == direct["statement"] and res["separation"]["separated"] is True
    for name in ("vbm", "cbm"):
        assert res["states"][name]["region_fractions"] == pytest.approx(direct["states"][name]["region_fractions"],
                                                                        abs=1e-6)
        row = next(r for r in report["rows"] if r["state"] == name.upper())
        assert row["f(rp)"] == res["states"][name]["region_fractions"]["rp"]
        assert row["IPR"] == res["states"][name]["ipr"]
    files = report["files"]
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        assert open(files["planar_average_boundary-edges"][fmt], "rb").read(4) == magic
    lines = open(files["planar_average_boundary-edges"]["csv"]).read().splitlines()
    assert lines[0] == "z (A),region,vbm (e/A^3),cbm (e/A^3)" and len(lines) == SHAPE[2] + 1
    assert r"\toprule" in open(files["table"]["tex"]).read()
    assert json.load(open(files["report"]))["statements"]["boundary-edges"] == res["statement"]
    assert json.load(open(files["report"])) == report
    assert report["kind"] == "band-edges" and report["schema"] == "pvatoms.analysis/1"


def test_inconsistent_band_edge_inputs_are_refused(iface, tmp_path):
    c = centres(iface)
    dens = {"vbm": slab(iface, SHAPE, c["perovskite"], 1.8), "cbm": slab(iface, SHAPE, c["rp"], 0.8)}
    good = make_result(tmp_path / "good", iface, dens)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="'relax' result, not 'band-edges'"):
        analyse_band_edges([make_result(tmp_path / "relax", iface, {}, job="relax")], out)
    failed = make_result(tmp_path / "failed", iface, dens, status="failed")
    with pytest.raises(InputError, match="'failed', not completed.*SCF did not converge"):
        analyse_band_edges([good, failed], out)
    assert len(analyse_band_edges([good, failed], out, skip_failed=True)["results"]) == 1
    (tmp_path / "good" / "cbm.cube").rename(tmp_path / "cbm.cube")
    with pytest.raises(InputError, match="cube file .*cbm.cube of the cbm state is missing"):
        analyse_band_edges([good], out)
    (tmp_path / "cbm.cube").rename(tmp_path / "good" / "cbm.cube")
    with pytest.raises(InputError, match="no cube file for state.* defect; the result has vbm, cbm"):
        analyse_band_edges([good], out, states=["defect"])
    moved = iface.copy()
    moved.positions[5] += [0.0, 0.0, 0.4]
    with pytest.raises(InputError, match=r"atom 5 \(\w+\) sits 0.400 Å away .*does not belong"):
        analyse_band_edges([make_result(tmp_path / "moved", iface, dens, cube_atoms=moved)], out)
    other = rp_interface(1, 1, 5)
    with pytest.raises(InputError, match="holds 68 atoms but the result's structure has 48"):
        analyse_band_edges([make_result(tmp_path / "other", iface, {"vbm": slab(iface, SHAPE, 3.0, 2.0)},
                                        cube_atoms=other)], out)
    with pytest.raises(InputError, match="needs the job folder"):
        analyse_band_edges([copy.deepcopy(schema.load(good))], out)


# ---------------------------------------------------------------- one real GPAW band-edge run

def test_real_gpaw_band_edges_of_cubic_cspbbr3(tmp_path):
    """5-atom cubic CsPbBr3, PBE (~15 s): the analysis reads the job's own cube files and agrees
    with the job's element fractions; both band edges are Bloch states, neither is localized."""
    pytest.importorskip("gpaw")
    from pvatoms.calc import get_backend
    from pvatoms.jobs.band_edges import run_band_edges

    doc = run_band_edges(cspbbr3("cubic"), tmp_path / "cubic", get_backend("gpaw"))
    assert doc["status"] == "completed", doc["reason"]
    report = analyse_band_edges([tmp_path / "cubic"], tmp_path / "out")
    res = report["results"][0]
    for name in ("vbm", "cbm"):
        st = res["states"][name]
        assert st["element_fractions"] == pytest.approx(doc["data"]["fractions"][name], abs=2e-6)
        assert st["localized"] is False and st["ipr"] < 10
        assert res["geometry"]["area"] * np.sum(st["planar_average"]) * res["geometry"]["period"] / len(
            res["z"]) == pytest.approx(1.0, abs=1e-9)
    assert res["states"]["vbm"]["element_fractions"]["Br"] > res["states"]["cbm"]["element_fractions"]["Br"]
    assert "one region" in res["statement"]


# ---------------------------------------------------------------- the partition, by brute force

def _owner_brute_force(atoms, shape):
    """Nearest atom of every grid point by ASE's minimum-image distances
    (:func:`ase.geometry.get_distances`, exact for any cell shape), without pvatoms."""
    from ase.geometry import get_distances
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1).reshape(-1, 3)
    _, dist = get_distances(frac @ np.asarray(atoms.cell), atoms.positions, cell=atoms.cell, pbc=True)
    return np.argmin(dist, axis=1).reshape(shape), np.sort(dist, axis=1)


def test_nearest_atom_partition_matches_minimum_image_brute_force():
    """An oblique cell with atoms off-centre, two of them close to cell faces and corners: every
    grid point must go to the atom nearest to it among all periodic images. Points whose two
    nearest atoms are within 1e-9 Å of a tie are left out of the comparison (there are none
    for these random positions)."""
    from ase import Atoms

    from pvatoms.geometry import nearest_atom
    rng = np.random.default_rng(7)
    cell = np.array([[6.1, 0.0, 0.0], [1.7, 5.4, 0.0], [0.9, -1.1, 7.3]])
    frac = np.vstack([[0.03, 0.04, 0.97], [0.95, 0.5, 0.02], rng.random((4, 3))])
    atoms = Atoms("CsPbBr3I", scaled_positions=frac, cell=cell, pbc=True)
    shape = (11, 9, 13)
    ref, dist = _owner_brute_force(atoms, shape)
    clear = (dist[:, 1] - dist[:, 0] > 1e-9).reshape(shape)
    assert clear.all()
    owner = nearest_atom(atoms, shape)
    assert owner.shape == shape
    assert np.array_equal(owner[clear], ref[clear])
    # the atoms near the faces own points on the far side of the cell (through their images):
    # the origin is 0.40 Å from the image of atom 0 at fractional (0.03, 0.04, -0.03) — without
    # images it would go to atom 5, 3.5 Å away; the point (0, 4/9, 0) is 0.37 Å from the image
    # of atom 1 at (-0.05, 0.5, 0.02)
    assert owner[0, 0, 0] == 0 and owner[0, 4, 0] == 1
    near = np.linalg.norm(np.array([0.03, 0.04, -0.03]) @ cell)
    assert near == pytest.approx(dist[0, 0], abs=1e-12) and near < 0.41


def test_density_around_an_atom_at_the_cell_corner_is_all_on_that_atom():
    """A Gaussian (σ 0.5 Å) centred on an atom that sits next to a cell corner spreads over all
    eight corners of the grid; every bit of it belongs to that atom, so its element fraction is
    ~1 (0.998 from the tails across the Voronoi faces, computed here by brute force)."""
    from ase import Atoms

    from pvatoms.jobs.band_edges import fractions as job_fractions
    atoms = Atoms("PbBr2", scaled_positions=[[0.02, 0.01, 0.03], [0.5, 0.5, 0.5], [0.5, 0.0, 0.5]],
                  cell=[6.0, 6.2, 6.4], pbc=True)
    shape = (30, 31, 32)
    rho = blob(atoms, shape, atoms.positions[0], 0.5)
    ref, _ = _owner_brute_force(atoms, shape)
    expected = rho[ref == 0].sum() / rho.sum()
    assert expected > 0.99
    f = job_fractions(atoms, rho)
    assert f["Pb"] == pytest.approx(expected, abs=1e-6)
    # and through the analysis: element fractions of the state
    res = analyse_densities(atoms, {"defect": rho})
    assert res["states"]["defect"]["element_fractions"]["Pb"] == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------- hand-computed conventions

def test_stacking_geometry_of_an_oblique_cell_by_hand():
    """Cell a = (5,0,0), b = (1,6,0), c = (1,2,7) (V = 210 Å³). Along c: normal z, period 7, area 30.
    Along a: the normal is b x c = (42,-7,-4) / sqrt(1829); period = a.n = 210 / sqrt(1829)."""
    from ase import Atoms
    atoms = Atoms("H", cell=[[5, 0, 0], [1, 6, 0], [1, 2, 7]], pbc=True)
    g = stacking_geometry(atoms)
    assert g["axis"] == 2 and g["normal"] == pytest.approx([0, 0, 1], abs=1e-12)
    assert g["period"] == pytest.approx(7.0, abs=1e-12) and g["area"] == pytest.approx(30.0, abs=1e-12)
    n = np.array([42.0, -7.0, -4.0]) / np.sqrt(1829.0)
    for kwargs in ({"axis": 0}, {"normal": -3 * n}):          # a normal points towards its cell vector
        g = stacking_geometry(atoms, **kwargs)
        assert g["axis"] == 0 and g["normal"] == pytest.approx(n, abs=1e-12)
        assert g["period"] == pytest.approx(210 / np.sqrt(1829.0), abs=1e-12)
        assert g["area"] == pytest.approx(np.sqrt(1829.0), abs=1e-12)
    atoms.info["stacking_normal"] = [0, 0, -1]
    assert stacking_geometry(atoms)["axis"] == 2 and stacking_geometry(atoms)["normal"][2] == pytest.approx(1)
    assert stacking_geometry(atoms, axis=1)["axis"] == 1          # an explicit axis wins over the info
    with pytest.raises(InputError, match="cell vector index 0, 1 or 2, got 3"):
        stacking_geometry(atoms, axis=3)
    with pytest.raises(InputError, match="no 3D cell"):
        stacking_geometry(Atoms("H", cell=[[5, 0, 0], [1, 6, 0], [0, 0, 0]]))


def test_planar_average_centroid_and_offset_by_hand():
    geo = {"axis": 0, "period": 8.0}
    rho = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)   # plane 0: 0..11, plane 1: 12..23
    z, avg = planar_average(rho, geo)
    assert z.tolist() == [0.0, 4.0] and avg.tolist() == [5.5, 17.5]
    z, avg = planar_average(rho, {"axis": 2, "period": 2.0})
    assert z.tolist() == [0.0, 0.5, 1.0, 1.5] and avg.tolist() == [10.0, 11.0, 12.0, 13.0]
    # two equal weights at 9 and 1 on a circle of 10: centre 0, resultant cos(2 pi / 10)
    c, conc = periodic_centroid([9.0, 1.0], [1.0, 1.0], 10.0)
    assert min(c, 10 - c) == pytest.approx(0, abs=1e-12) and conc == pytest.approx(np.cos(np.pi / 5), abs=1e-12)
    c, conc = periodic_centroid([2.5, 7.0], [3.0, 0.0], 10.0)
    assert c == pytest.approx(2.5, abs=1e-12) and conc == pytest.approx(1.0, abs=1e-12)
    c, conc = periodic_centroid([2.5, 7.5], [1.0, 1.0], 10.0)    # opposite points: no preferred height
    assert conc == pytest.approx(0.0, abs=1e-12)
    for w in ([0.0, 0.0], [1.0, -2.0]):
        with pytest.raises(InputError, match="not positive"):
            periodic_centroid([1.0, 2.0], w, 10.0)
    assert periodic_offset(1.0, 9.0, 10.0) == -2.0 and periodic_offset(9.0, 1.0, 10.0) == 2.0
    assert periodic_offset(0.0, 5.0, 10.0) == 5.0 and periodic_offset(5.0, 0.0, 10.0) == 5.0   # (-L/2, L/2]
    assert periodic_offset(3.0, 3.0, 10.0) == 0.0


def test_fractions_ipr_and_sphere_by_hand():
    codes = np.array([[0, 0, 1], [2, 2, 2]])
    rho = np.array([[1.0, 3.0, 2.0], [0.5, 0.5, 1.0]])          # total 8
    assert region_fractions(rho, ["a", "b", "c"], codes) == {"a": 0.5, "b": 0.25, "c": 0.25}
    assert volume_fractions(["a", "b", "c", "d"], codes) == {"a": 2 / 6, "b": 1 / 6, "c": 0.5, "d": 0.0}
    with pytest.raises(InputError, match="not positive"):
        region_fractions(np.zeros((2, 3)), ["a", "b", "c"], codes)
    assert ipr(np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2.0)        # 4 * 2 / 2^2
    assert ipr(np.array([3.0, 1.0])) == pytest.approx(2 * 10 / 16)
    with pytest.raises(InputError, match="not positive"):
        ipr(np.zeros(4))
    from ase import Atoms

    from pvatoms.analysis.localization import sphere_mask
    cube = Atoms("H", cell=[10, 10, 10], pbc=True)
    # grid spacing 1 Å, sphere around a grid point at the corner: 1 + 6 points at r <= 1, + 12 at sqrt 2
    assert sphere_mask(cube, (10, 10, 10), [0, 0, 0], 1.0).sum() == 7
    assert sphere_mask(cube, (10, 10, 10), [0, 0, 0], 1.5).sum() == 19
    assert sphere_mask(cube, (10, 10, 10), [10, 10, 0], 1.5).sum() == 19       # an image of the corner
    with pytest.raises(InputError, match="below half the smallest cell height"):
        sphere_mask(cube, (10, 10, 10), [0, 0, 0], 5.0)
    with pytest.raises(InputError, match="three Cartesian coordinates"):
        sphere_mask(cube, (10, 10, 10), [0, 0], 1.0)


def test_locate_statements_and_region_spans_by_hand():
    from pvatoms.analysis.localization import localization_statement, region_spans
    vols = {"rp": 0.3, "perovskite": 0.7}
    out = locate({"rp": 0.6, "perovskite": 0.4}, vols)
    assert out["region"] == "rp" and out["fraction"] == 0.6 and out["enrichment"] == pytest.approx(2.0)
    assert out["enrichments"]["perovskite"] == pytest.approx(0.4 / 0.7)
    assert locate({"rp": 0.6, "perovskite": 0.4}, vols, threshold=2.5)["region"] is None
    exact = ({"rp": 0.375, "perovskite": 0.625}, {"rp": 0.25, "perovskite": 0.75})   # enrichment 1.5 exactly
    assert locate(*exact, threshold=1.5)["region"] == "rp"                            # reaching it is enough
    assert locate(*exact, threshold=1.5 + 1e-12)["region"] is None
    # a region with no volume has no enrichment (and is not a division by zero)
    out = locate({"rp": 0.5, "boundary": 0.0, "perovskite": 0.5}, {"rp": 0.5, "boundary": 0.0, "perovskite": 0.5})
    assert set(out["enrichments"]) == {"rp", "perovskite"}
    assert locate({"rp": 1.0}, {"rp": 0.0}) == {"region": None, "fraction": None, "enrichment": None}
    same = edge_statement({"vbm": {"rp": 0.1, "perovskite": 0.9}, "cbm": {"rp": 0.2, "perovskite": 0.8}},
                          {"rp": 0.5, "perovskite": 0.5}, offset=3.04)
    assert same["separated"] is False
    assert same["statement"] == ("CBM 80 % on the perovskite side, VBM 90 % on the perovskite side: on the "
                                 "same side, not separated; centroids 3.0 Å apart along the stacking axis")
    spread = edge_statement({"vbm": {"rp": 0.5, "perovskite": 0.5}, "cbm": {"rp": 0.9, "perovskite": 0.1}},
                            {"rp": 0.5, "perovskite": 0.5}, offset=3.0)
    assert spread["statement"] == ("CBM 90 % on the RP side, VBM spread over the regions (rp 50 %, "
                                   "perovskite 50 %): no clear separation")
    info = {"ipr": 12.34, "effective_volume": 81.2, "ipr_reference": {"source": "VBM of the same cell"},
            "ipr_ratio": 4.06, "fraction_within_radius": 0.456, "radius": 4.0, "uniform_fraction": 0.05,
            "localized": True}
    assert localization_statement("cbm", info) == (
        "CBM: IPR 12.3 (V_eff 81 Å³), 4.1x the VBM of the same cell; 46 % within 4.0 Å of the defect site "
        "(uniform density: 5 %): localized")
    assert localization_statement("vbm", {"ipr": 1.04, "effective_volume": 800.0, "localized": False}) == (
        "VBM: IPR 1.0 (V_eff 800 Å³): delocalized (bulk-like)")
    assert localization_statement("x", {"ipr": 1.0, "effective_volume": 8.0, "localized": None}).endswith(
        ": localization not judged (no bulk-like reference state)")
    z = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert region_spans(z, ["rp", "rp", "perovskite", "perovskite", "rp"], 1.0) == [
        (-0.5, 1.5, "rp"), (1.5, 3.5, "perovskite"), (3.5, 4.5, "rp")]
    assert region_spans(z[:1], ["rp"], 2.0) == [(-1.0, 1.0, "rp")]


def test_analysis_without_regions_or_with_one_region_says_so(vacancy):
    atoms = vacancy[0]
    shape = (8, 8, 8)
    dens = {"vbm": np.ones(shape), "cbm": blob(atoms, shape, atoms.cell.sum(axis=0) / 2, 2.0)}
    plain = atoms.copy()
    plain.arrays.pop("region", None)
    out = analyse_densities(plain, dens)
    assert out["regions"] is None and out["separation"] is None and out["slab_regions"] is None
    assert out["statement"] == (f"no region labels in the structure: no separation between regions to judge; "
                                f"VBM-CBM centroid offset {out['centroid_offset']:+.1f} Å along the stacking axis")
    one = analyse_densities(plain, dens, labels=["perovskite"] * len(plain))
    assert one["statement"].startswith("every atom is in one region (perovskite): no separation")
    assert one["volume_fractions"] == {"perovskite": 1.0} and one["slab_regions"] == ["perovskite"] * 8
    # the uniform VBM is the bulk-like reference of the CBM blob and the other way round
    cbm, vbm = out["states"]["cbm"], out["states"]["vbm"]
    assert vbm["ipr"] == pytest.approx(1.0) and cbm["ipr_reference"]["value"] == pytest.approx(1.0)
    assert cbm["ipr_ratio"] == pytest.approx(cbm["ipr"]) and cbm["localized"] is (cbm["ipr"] > 3.0)
    assert vbm["ipr_reference"]["source"] == "CBM of the same cell" and vbm["localized"] is False
    assert cbm["effective_volume"] == pytest.approx(atoms.get_volume() / cbm["ipr"])
    assert sum(cbm["element_fractions"].values()) == pytest.approx(1.0)
