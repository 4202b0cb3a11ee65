"""A toy LHC stop-pair search (Chapter 5, "Training on s/√(s+b) and on the Asimov significance").

**This is a toy, not a simulation.** Elwood & Krücker (significance-asimov-losses.txt, Sec. 2) use
PYTHIA8 + DELPHES events of t̃t̃* → t χ̃⁰₁ t̄ χ̃⁰₁ against tt̄ at 14 TeV. We cannot ship those, so this
module draws *post-pre-selection* events from a small generative model that keeps the physics that
decides how hard the classification is:

* the yields: the paper's cross sections (17.6 fb for m_t̃ = 900, m_χ = 100 GeV, "uncompressed";
  228 fb for 600/400 GeV, "compressed"; tt̄ 844 pb -- the paper prints "844 fb", a typo: the authors'
  code uses 844 000 fb), 30 fb⁻¹, and the pre-selection efficiencies of the authors' code (0.059,
  0.14, 8.2 × 10⁻⁴), i.e. about 31, 958 and 20 760 expected events;
* the lepton and the neutrino of a W are generated from a real two-body decay (W mass from a
  Breit-Wigner, isotropic in the W frame, boosted in the transverse plane), so m_T of one-lepton tt̄
  has its Jacobian edge at m_W ≈ 80 GeV and only the missing-E_T resolution smears it;
* dileptonic tt̄ with a lost lepton: the whole second W is invisible, so m_T has no edge there, but
  the m_T2^W-like variable stays below m_t ≈ 173 GeV (up to resolution) -- what m_T2^W is built for;
* signal: the two LSPs add missing momentum that is not aligned with the lepton. Their momentum in
  the stop frame is the top momentum there, ≈ 427 GeV for (900, 100) -- hard tails in missing E_T,
  m_T, m_T2^W and H_T, so the signal separates well but is rare -- and ≈ 83 GeV for (600, 400), where
  only the recoil against initial-state radiation (ISR) gives the LSPs transverse momentum: soft,
  tt̄-like kinematics with a larger cross section.

The jets, H_T, n_jet, n_b and m_T2^W-like are parametric (exponential jet spectra, Poisson extra jets,
a Beta-shaped m_T2^W below m_t for tt̄ and a quadrature sum with the LSP-pair momentum for the
signal); events are drawn only in the phase space that passes the paper's pre-selection (≥ 1 lepton
with p_T > 30 GeV, ≥ 4 jets with the leading two above 80 and 60 GeV, ≥ 1 b-tag, missing
E_T > 200 GeV, H_T > 300 GeV), by rejection. The numbers of the shape model were chosen by hand so
that the best cut-based significances land in the range of the paper's Table 2; they are not fits.

Features (columns of ``x``, GeV unless stated; n_jet, n_b counts; Δφ in radians): ``STOP_FEATURES``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .._validate import choice, integer, number
from .sample import Sample

__all__ = ["STOP_BENCHMARKS", "TTBAR", "STOP_FEATURES", "stop_expected_yields", "StopToy", "make_stop_toy"]

#: The paper's two benchmark points (Sec. 2) with the pre-selection efficiency of the authors' code
#: and the top momentum in the stop rest frame (two-body decay t̃ → t χ̃⁰₁).
STOP_BENCHMARKS = {
    "uncompressed": {"m_stop": 900.0, "m_lsp": 100.0, "xsec_fb": 17.6, "efficiency": 0.059},
    "compressed": {"m_stop": 600.0, "m_lsp": 400.0, "xsec_fb": 228.0, "efficiency": 0.14},
}
#: tt̄ at 14 TeV: 844 pb (the paper's "844 fb" is a typo) and its pre-selection efficiency.
TTBAR = {"xsec_fb": 844_000.0, "efficiency": 8.2e-4}
#: Names of the feature columns.
STOP_FEATURES = ("met", "ht", "lep_pt", "jet1_pt", "n_jet", "n_b", "mt", "mt2w", "dphi_lep_met")

M_W, GAMMA_W, M_TOP = 80.4, 2.1, 172.8
_MET_RES = 20.0  # GeV per transverse component
_MAX_JETS = 10
_TT_DILEPTON = 0.4         # fraction of dileptonic tt̄ (one lepton lost) after the pre-selection
_FAKE_MET_FRACTION = 0.3   # events with a mismeasured jet adding fake missing E_T
_FAKE_MET_SCALE = 70.0     # GeV, exponential scale of that fake missing E_T
_MT2W_MISPAIR = 0.3        # events with a wrong b-lepton pairing in m_T2^W
_MT2W_TAIL = 0.25          # relative exponential tail of m_T2^W for a wrong pairing
_MT2W_LSP = 0.45           # how strongly the LSP pair's momentum raises m_T2^W
_ISR_MIN, _ISR_SCALE = 50.0, 110.0  # GeV: ISR recoil of the stop pair, min + exponential
_SIG_W_EXTRA = 80.0        # GeV: exponential extra transverse momentum of the signal's leptonic W


def _two_body_momentum(m_parent, m1, m2):
    """Momentum of the daughters in the parent's rest frame."""
    lam = (m_parent**2 - (m1 + m2) ** 2) * (m_parent**2 - (m1 - m2) ** 2)
    return np.sqrt(lam) / (2 * m_parent)


def stop_expected_yields(benchmark: str = "compressed", luminosity: float = 30.0):
    """Expected (signal, tt̄ background) events after the pre-selection: σ · ε · L.

    ``stop_expected_yields("uncompressed")`` ≈ (31.2, 20 762); ``"compressed"`` ≈ (957.6, 20 762).
    """
    choice("benchmark", benchmark, sorted(STOP_BENCHMARKS))
    luminosity = number("luminosity", luminosity, low=0, low_open=True)
    p = STOP_BENCHMARKS[benchmark]
    return p["xsec_fb"] * p["efficiency"] * luminosity, TTBAR["xsec_fb"] * TTBAR["efficiency"] * luminosity


# ------------------------------------------------------------------------------------------------
# the shape model
# ------------------------------------------------------------------------------------------------
def _leptonic_w(rng, n, pt_w):
    """Lepton and neutrino transverse momenta (2D arrays) of W → ℓν with W transverse momentum pt_w.

    The W (pz = 0) decays isotropically in its rest frame and is boosted along its direction, which
    is then rotated to a random azimuth. m_T(ℓ, ν) ≤ m_W holds exactly.
    """
    m = np.clip(M_W + GAMMA_W / 2 * rng.standard_cauchy(n), 60.0, 100.0)
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    phi = rng.uniform(0, 2 * np.pi, n)
    p_star = m / 2
    lx, ly = p_star * sin_t * np.cos(phi), p_star * sin_t * np.sin(phi)
    gamma, beta_gamma = np.sqrt(1 + (pt_w / m) ** 2), pt_w / m
    lep_x = gamma * lx + beta_gamma * p_star
    nu_x = -gamma * lx + beta_gamma * p_star
    rot = rng.uniform(0, 2 * np.pi, n)
    c, s = np.cos(rot), np.sin(rot)
    lep = np.stack([c * lep_x - s * ly, s * lep_x + c * ly], axis=1)
    nu = np.stack([c * nu_x + s * ly, s * nu_x - c * ly], axis=1)
    return lep, nu


def _random_vector(rng, magnitude):
    phi = rng.uniform(0, 2 * np.pi, len(magnitude))
    return np.stack([magnitude * np.cos(phi), magnitude * np.sin(phi)], axis=1)


def _jets(rng, n, n_extra_mean, scale, lead_pt=None):
    """n_jet (≥ 4), sorted jet p_T's (zero-padded), H_T. ``lead_pt`` adds a hard ISR jet."""
    n_jet = np.minimum(4 + rng.poisson(n_extra_mean, n), _MAX_JETS)
    pts = 40.0 + rng.exponential(1.0, (n, _MAX_JETS)) * scale[:, None]
    if lead_pt is not None:
        pts[:, 0] = np.maximum(lead_pt, 40.0)
    pts = np.where(np.arange(_MAX_JETS)[None, :] < n_jet[:, None], pts, 0.0)
    pts = -np.sort(-pts, axis=1)
    return n_jet, pts, pts.sum(axis=1)


def _generate(process: str, rng, n: int):
    """Draw ``n`` candidate events of one process (before the pre-selection); returns a dict."""
    if process == "ttbar":
        dilep = rng.uniform(size=n) < _TT_DILEPTON  # dileptonic with a lost lepton
        pt_w = np.where(dilep, 60.0 + rng.exponential(110.0, n), 170.0 + rng.exponential(140.0, n))
        lep, nu = _leptonic_w(rng, n, pt_w)
        invisible = nu + _random_vector(rng, np.where(dilep, 90.0 + rng.exponential(120.0, n), 0.0))  # + lost W
        lsp = np.zeros_like(nu)
        jet_scale, n_extra, lead_pt = 35.0 + 0.12 * pt_w, np.where(dilep, 0.4, 0.7), None
    else:
        p = STOP_BENCHMARKS[process]
        p_star = _two_body_momentum(p["m_stop"], M_TOP, p["m_lsp"])
        # ISR recoil of the stop pair (drawn hard: only the part of phase space passing the pre-selection)
        pt_isr = _ISR_MIN + rng.exponential(_ISR_SCALE, n)
        f_lsp = 2 * np.sqrt(p["m_lsp"] ** 2 + p_star**2 / 3) / (2 * p["m_stop"])  # LSPs' share of the recoil
        recoil = _random_vector(rng, pt_isr)
        # each LSP: momentum p* in the stop frame (isotropic → transverse ∝ sin θ), plus its share of the recoil
        lsp = np.zeros((n, 2))
        for _ in range(2):
            cos_t = rng.uniform(-1, 1, n)
            lsp += _random_vector(rng, p_star * np.sqrt(1 - cos_t**2))
        lsp += f_lsp * recoil
        # the leptonic top: transverse momentum p* sin θ plus the top's share of the recoil; W takes ~ 2/3
        cos_t = rng.uniform(-1, 1, n)
        top_pt = np.hypot(p_star * np.sqrt(1 - cos_t**2), 0.5 * (1 - f_lsp) * pt_isr)
        pt_w = 0.65 * top_pt + rng.exponential(_SIG_W_EXTRA, n)
        lep, nu = _leptonic_w(rng, n, pt_w)
        dilep = rng.uniform(size=n) < _TT_DILEPTON
        # + the lost W of a dileptonic decay
        invisible = nu + _random_vector(rng, np.where(dilep, 0.65 * top_pt + rng.exponential(40.0, n), 0.0)) + lsp
        jet_scale, n_extra = 30.0 + 0.25 * p_star + 0.08 * top_pt, np.ones(n)
        lead_pt = 0.8 * pt_isr + rng.normal(0, 20, n)
    # missing-E_T resolution: Gaussian core plus, in a fraction of events, a mismeasured jet
    mismeasured = rng.uniform(size=n) < _FAKE_MET_FRACTION
    fake = _random_vector(rng, np.where(mismeasured, rng.exponential(_FAKE_MET_SCALE, n), 0.0))
    met_vec = invisible + fake + rng.normal(0.0, _MET_RES, (n, 2))
    met = np.hypot(met_vec[:, 0], met_vec[:, 1])
    lep_pt = np.hypot(lep[:, 0], lep[:, 1])
    # the lepton and missing-E_T requirements first, so the rest is drawn only for survivors
    keep = (met > 200) & (lep_pt > 30)
    lep, met_vec, met, lep_pt, lsp = lep[keep], met_vec[keep], met[keep], lep_pt[keep], lsp[keep]
    jet_scale, n_extra = jet_scale[keep], n_extra[keep]
    lead_pt = None if lead_pt is None else lead_pt[keep]
    n = len(met)
    n_jet, pts, ht = _jets(rng, n, n_extra, jet_scale, lead_pt=lead_pt)
    cos_dphi = (lep * met_vec).sum(axis=1) / np.maximum(lep_pt * met, 1e-9)
    dphi = np.arccos(np.clip(cos_dphi, -1.0, 1.0))
    mt = np.sqrt(np.maximum(2 * lep_pt * met * (1 - np.cos(dphi)), 0.0))
    # m_T2^W-like: below m_t for tt̄ (smeared); signal adds the LSP pair's transverse momentum in quadrature
    # (a wrong b-jet pairing in a fraction of events pushes it above m_t)
    base = M_TOP * rng.beta(6.0, 2.0, n)
    base = np.where(rng.uniform(size=n) < _MT2W_MISPAIR, base * (1 + rng.exponential(_MT2W_TAIL, n)), base)
    lsp_pt = np.hypot(lsp[:, 0], lsp[:, 1])
    mt2w = np.sqrt(base**2 + (_MT2W_LSP * lsp_pt) ** 2) + rng.normal(0.0, 15.0, n)
    n_b = np.minimum(1 + rng.binomial(1, 0.45, n), n_jet)
    return {"met": met, "ht": ht, "lep_pt": lep_pt, "jet1_pt": pts[:, 0], "n_jet": n_jet.astype(float),
            "n_b": n_b.astype(float), "mt": mt, "mt2w": mt2w, "dphi_lep_met": dphi, "jet2_pt": pts[:, 1]}


@functools.lru_cache(maxsize=2)
def _ttbar_sample(n: int, seed: int) -> np.ndarray:
    """The tt̄ events of :func:`make_stop_toy` (they depend only on ``n`` and ``seed``, not on the benchmark).

    Cached (read-only), so the two benchmark points of a chapter draw their shared background once.
    """
    x = _sample("ttbar", n, np.random.SeedSequence(int(seed)).spawn(3)[1])
    x.flags.writeable = False
    return x


def _sample(process: str, n: int, seed_seq) -> np.ndarray:
    """``n`` pre-selected events of ``process`` as an (n, n_features) float32 array."""
    rng = np.random.default_rng(seed_seq)
    chunks, have, acceptance = [], 0, 0.2
    while have < n:
        want = min(max(int(1.1 * (n - have) / acceptance), 5_000), 2_000_000)
        ev = _generate(process, rng, want)
        keep = ((ev["lep_pt"] > 30) & (ev["n_jet"] >= 4) & (ev["jet1_pt"] > 80) & (ev["jet2_pt"] > 60)
                & (ev["n_b"] >= 1) & (ev["met"] > 200) & (ev["ht"] > 300))  # the paper's pre-selection
        acceptance = max(float(keep.mean()), 0.01)
        chunks.append(np.stack([ev[f][keep] for f in STOP_FEATURES], axis=1))
        have += len(chunks[-1])
    return np.concatenate(chunks)[:n].astype(np.float32)


# ------------------------------------------------------------------------------------------------
# the public generator
# ------------------------------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class StopToy(Sample):
    """Events of the toy stop search (see the module docstring): a :class:`~hepsig_tutorial.data.sample.Sample`
    with ``x`` the raw features (``feature_names``), ``y`` 1 for signal and 0 for tt̄, ``w`` the expected events
    per simulated event at ``luminosity`` (each class sums to its expected yield) and ``process`` (0 signal,
    1 tt̄). :meth:`~hepsig_tutorial.data.sample.Sample.split` gives training, validation and test parts with the
    weights rescaled to the full yields.
    """

    benchmark: str
    luminosity: float
    expected_signal: float
    expected_background: float
    feature_names: tuple = field(default=STOP_FEATURES)


def make_stop_toy(benchmark: str, n_signal: int, n_background: int, *, luminosity: float = 30.0,
                  seed: int = 0) -> StopToy:
    """Generate the toy stop search for one benchmark point (Chapter 5; significance-asimov-losses.txt, Sec. 2).

    Parameters
    ----------
    benchmark : {"uncompressed", "compressed"}
        (m_t̃, m_χ) = (900, 100) GeV or (600, 400) GeV.
    n_signal, n_background : int
        Simulated events of each class after the pre-selection. The paper: 1 000 000 each, which
        ``toy.split((0.7, 0.3))`` divides into its 1.4 × 10⁶ training and 6 × 10⁵ test events, 50 % signal.
    luminosity : float
        Integrated luminosity in fb⁻¹ (the paper: 30 fb⁻¹ at 14 TeV).
    seed : int
        Deterministic for a seed. The tt̄ events depend only on the seed, not on the benchmark, so both
        benchmark points share the same background sample.

    Returns
    -------
    StopToy
    """
    s_exp, b_exp = stop_expected_yields(benchmark, luminosity)  # checks benchmark and luminosity
    n_signal, n_background = integer("n_signal", n_signal, minimum=2), integer("n_background", n_background, minimum=2)
    seed = integer("seed", seed)
    # signal streams differ per benchmark; the background stream does not
    xs = _sample(benchmark, n_signal, np.random.SeedSequence([seed, 1 + sorted(STOP_BENCHMARKS).index(benchmark)]))
    xb = _ttbar_sample(n_background, seed)
    x = np.concatenate([xs, xb])
    y = np.concatenate([np.ones(len(xs)), np.zeros(len(xb))]).astype(np.float32)
    w = np.where(y == 1, s_exp / len(xs), b_exp / len(xb))
    return StopToy(x, y, w, {"process": (y == 0).astype(np.int64)}, benchmark=benchmark,
                   luminosity=float(luminosity), expected_signal=float(s_exp), expected_background=float(b_exp))
