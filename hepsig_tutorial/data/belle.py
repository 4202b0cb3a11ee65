"""Belle II-like toy: e⁺e⁻ → μ⁺μ⁻Z′ with Z′ → invisible, and its backgrounds (Chapters 2-4).

Taught in Chapter 2 (``sec-cut-based``); the per-mass Punzi sensitivity and the cut-based baseline of
that chapter are in :mod:`hepsig_tutorial.cutbased`.

A *toy* Monte Carlo for the benchmark of punzi-loss.txt (Sec. 6): the search for a peak in the
squared mass recoiling against two muons at √s = 10.58 GeV. Every event is generated as
four-vectors in the e⁺e⁻ centre-of-mass (CM) frame from physical kinematics, passed through a
Belle II-like toy detector (polar-angle acceptance and momentum cut in the lab frame, track
momentum and angle smearing) and reduced to the quantities the paper uses:

* the squared recoil mass M²_rec = (p_beams − p_μ⁺ − p_μ⁻)² (the analysis variable, Sec. 6);
* the four features of the paper's Table 1, all in the CM frame.

What is physical and what is a toy
----------------------------------
Signal (process 0). e⁺e⁻ → μ⁺μ*⁻ (or μ*⁺μ⁻) with the virtual muon radiating the Z′
(μ* → μZ′; the L_μ−L_τ Z′ couples to muons): exact three-body kinematics, the muon propagator
1/(m*² − m_μ²) and the two-body phase-space factors as a simple matrix-element weight,
1 + cos²θ for the production angle, isotropic μ* decay. Not the full L_μ−L_τ matrix element.
No initial-state radiation (ISR) for the signal (a simplification of the toy; the paper does not
say how its MadGraph signal treats ISR); the μ⁺μ⁻(γ) and τ⁺τ⁻ backgrounds include the collinear
ISR described next (without the 1/s′ dependence of the hard cross section).

μ⁺μ⁻(γ) (process 1). e⁺e⁻ → μ⁺μ⁻ with collinear ISR from each beam (energy fraction from the
leading-log spectrum βx^(β−1), β = 2α/π (ln s/m_e² − 1) ≈ 0.088; angle to the beam
∝ θ/(θ² + θ₀²) up to 0.2 rad, i.e. the photons escape along the beam pipe). One photon gives
M²_rec = 0, two give the tail M²_rec ≈ s·x₁x₂.

τ⁺τ⁻ (process 2). e⁺e⁻ → τ⁺τ⁻ (1 + cos²θ, with ISR) with both τ → μνν: the muon energy from
the Michel spectrum x²(3 − 2x) in the τ rest frame, isotropic (no τ polarisation). Four
neutrinos: a broad recoil continuum.

e⁺e⁻μ⁺μ⁻ (process 3). Two-photon process: each beam radiates a quasi-real photon (equivalent
photon spectrum (1 + (1 − x)²)/x, virtuality log-uniform up to 1 GeV², i.e. the electrons escape
at small angle), γγ → μ⁺μ⁻ with the Breit-Wheeler cross section and angular distribution, pair
mass W > 0.5 GeV. Soft dimuons, high recoil mass.

Detector (toy, Belle II-like). Boost to the lab (7 GeV e⁻ on 4 GeV e⁺, βγ = 0.28); both muons
within 17° < θ_lab < 150° and p_lab > 0.5 GeV; p_T smeared with σ(p_T)/p_T = 0.11 % p_T ⊕ 0.25 %/β
(Belle II TDR-like; the 0.25 %/β term stands for multiple scattering in the detector material),
angles with 1 mrad ⊕ 1 mrad·GeV/p; boosted back to the CM frame.

Preselection and filtered samples. Every kept event has a reconstructed dimuon transverse momentum
p*_t(μ⁺μ⁻) > :data:`PRESELECTION_PT` in the CM frame. The μμ(γ) and eeμμ samples are filtered at
generator level on the true dimuon p_t (> :data:`GENERATOR_FILTER_PT`, a smearing margin below the
preselection): ~97 % of μμ(γ) and ~70 % of eeμμ events are rejected before the detector simulation
and counted in the sample luminosity, so a kept event stands for a far larger luminosity than without
the filter. Signal weights are 1/N_generated (before acceptance and preselection).

Cross sections (fb) are Belle II Physics Book values quoted in the book's physics-facts notes and
*not re-checked* (treat as toy values): σ(μμ(γ)) = 1.15 nb, σ(ττ) = 0.919 nb times
B(τ → μνν)² = 0.1739², σ(eeμμ, W > 0.5 GeV) = 18.9 nb. Background weights are
target luminosity / simulated-sample luminosity (punzi-loss.txt, Eq. 11, s_bkg); the simulated
samples here are far smaller than the paper's 1000 / 450 / 3000 fb⁻¹ (eeμμ / ττ / μμ(γ)), so weights
are larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import array, choice, integer, number, require
from .sample import Sample


__all__ = ["BelleToy", "make_belle_toy", "belle_features", "SQRT_S", "BELLE_FEATURES", "BELLE_PROCESSES",
           "BELLE_CROSS_SECTIONS", "PAPER_SAMPLE_LUMINOSITY", "PUBLIC_CODE_SAMPLE_LUMINOSITY", "AUTHORS_SIGMA_M2",
           "PAPER_MASSES", "PRESELECTION_PT", "GENERATOR_FILTER_PT"]

# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------
E_MINUS, E_PLUS = 7.0, 4.0  # GeV, SuperKEKB beam energies
#: Centre-of-mass energy √s = 2√(E⁻E⁺) = 10.583 GeV.
SQRT_S = 2.0 * math.sqrt(E_MINUS * E_PLUS)
S = SQRT_S**2
BOOST_BETA = (E_MINUS - E_PLUS) / (E_MINUS + E_PLUS)  # CM → lab, along +z (e⁻ direction)
M_MU, M_TAU, M_E = 0.1056584, 1.77686, 0.000510999
ALPHA = 1.0 / 137.036
BR_TAU_MUNUNU = 0.1739

#: Names of the four Table-1 features (punzi-loss.txt, Table 1), all in the CM frame.
BELLE_FEATURES = ["pt_thrust", "pt_rel", "pl_rel", "pt_mumu"]
#: Process names, indexed by ``BelleToy.process``.
BELLE_PROCESSES = ["signal", "mumu(gamma)", "tautau", "eemumu"]
#: Toy cross sections in fb of the generated background samples (see module docstring).
BELLE_CROSS_SECTIONS = {
    "mumu(gamma)": 1.15e6,
    "tautau": 0.919e6 * BR_TAU_MUNUNU**2,
    "eemumu": 18.9e6,
}
#: Simulated-sample luminosities in fb⁻¹ as the paper states them (punzi-loss.txt, Secs. 5-6: e⁺e⁻μ⁺μ⁻ 1000,
#: ττ 450, μμ(γ) 3000).
PAPER_SAMPLE_LUMINOSITY = {"mumu(gamma)": 3000.0, "tautau": 450.0, "eemumu": 1000.0}
#: The same in the authors' public code (punzinet repository): μμ(γ) and ττ the other way round.
PUBLIC_CODE_SAMPLE_LUMINOSITY = {"mumu(gamma)": 450.0, "tautau": 3000.0, "eemumu": 1000.0}

# The authors' fitted signal widths σ(M²_rec) in GeV² per Z′ mass (public punzinet repository,
# examples/width.txt, 0.1 ... 8.9 GeV). Reference data for Chapter 2's resolution comparison.
_AUTHORS_W = [
    0.233973, 0.236435, 0.243208, 0.242106, 0.261568, 0.288306, 0.300649, 0.289939, 0.296014, 0.287493,
    0.295704, 0.318632, 0.33856, 0.305028, 0.305528, 0.311518, 0.304088, 0.308362, 0.305413, 0.31112,
    0.3054, 0.295048, 0.305247, 0.302437, 0.301663, 0.289403, 0.309815, 0.286611, 0.303025, 0.270783,
    0.267958, 0.279397, 0.297298, 0.280799, 0.279793, 0.292338, 0.297271, 0.269637, 0.264771, 0.262165,
    0.271074, 0.258981, 0.244844, 0.274522, 0.251093, 0.241024, 0.256065, 0.260173, 0.257057, 0.243127,
    0.233758, 0.221978, 0.252854, 0.232739, 0.232613, 0.221561, 0.222904, 0.225506, 0.238204, 0.195867,
    0.193822, 0.207533, 0.183815, 0.183898, 0.176748, 0.164348, 0.173001, 0.144656, 0.1641, 0.158242,
    0.144462, 0.146399, 0.139235, 0.153328, 0.120532, 0.105098, 0.136988, 0.10825, 0.112467, 0.0962218,
    0.0971608, 0.0926608, 0.0757172, 0.0845161, 0.0814931, 0.0657694, 0.0634444, 0.0654147, 0.0669022,
]
#: The authors' signal M²_rec widths: ``{"mass": (89,) GeV, "sigma_m2": (89,) GeV²}``.
#: The paper's 89 Z′ mass hypotheses, 0.1 ... 8.9 GeV in 0.1 GeV steps (punzi-loss.txt, Sec. 6).
PAPER_MASSES = np.round(np.arange(1, 90) * 0.1, 1)
AUTHORS_SIGMA_M2 = {"mass": PAPER_MASSES, "sigma_m2": np.array(_AUTHORS_W)}

_ACC_THETA = (math.radians(17.0), math.radians(150.0))
#: Default split of an integer ``n_background`` over μμ(γ), ττ, eeμμ (kept events). With the
#: generator filter a kept μμ(γ) event is cheap but stands for ~60 generated ones; eeμμ is the slowest
#: to generate (~5 % acceptance, ~14 % preselection).
_BKG_SHARES = (0.15, 0.55, 0.3)
_ACC_P = 0.5
#: Default preselection (GeV): reconstructed p*_t(μ⁺μ⁻) in the CM frame above this for every event. The
#: signal's Z′ recoil gives it a hard dimuon p_t (loss ≲ 1 % below 8 GeV, ≈ 7 % at 8.9 GeV); μμ(γ) and
#: eeμμ mostly have none, so the preselection lets their simulation be filtered at generator level.
PRESELECTION_PT = 0.3
#: Default generator-level filter (GeV) on the true dimuon p_t of the μμ(γ) and eeμμ samples.
GENERATOR_FILTER_PT = 0.15
#: The least distance (GeV) between the preselection and the generator filter: the reconstructed dimuon
#: p_t of back-to-back muons is smeared by ≈ 30-40 MeV, so 150 MeV is ≳ 4σ (``tests/test_belle.py``
#: checks on an unfiltered sample that no preselected event has a true p_t below the filter).
FILTER_MARGIN = 0.15


# --------------------------------------------------------------------------------------------
# kinematics helpers (vectorised; internally four-vectors are (4, n) arrays: E, px, py, pz)
# --------------------------------------------------------------------------------------------
def _lam(a, b, c):
    """Källén function λ(a, b, c)."""
    return a * a + b * b + c * c - 2 * a * b - 2 * a * c - 2 * b * c


def _p2body(m, m1, m2):
    """Momentum of the daughters of a two-body decay m → m1 m2 in the parent's rest frame."""
    return np.sqrt(np.maximum(_lam(m * m, m1 * m1, m2 * m2), 0.0)) / (2.0 * m)


def _cos_1pc2(rng, n):
    """cos θ distributed as 1 + cos²θ on [−1, 1] (inverse CDF, Cardano)."""
    q = 4.0 * rng.random(n) - 2.0
    r = np.sqrt(q * q + 1.0)
    return np.cbrt(q + r) + np.cbrt(q - r)


def _vec(p, cos_t, phi, m):
    """(4, n) four-vectors of momentum ``p`` along (cos θ, φ) with mass ``m``."""
    sin_t = np.sqrt(np.clip(1.0 - cos_t * cos_t, 0.0, None))
    return np.stack([np.sqrt(p * p + m * m), p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t])


def _partner(v, p, m):
    """The other daughter of a two-body decay in the parent's rest frame: momentum −p⃗ of ``v``, mass ``m``."""
    return np.concatenate([np.sqrt(p * p + m * m)[None], -v[1:]])


def _to_frame_of(v, q):
    """Boost (4, n) vectors defined in the rest frame of ``q`` into the frame where ``q`` is given: a Lorentz
    boost by the velocity (bx, by, bz) = q⃗/E_q."""
    bx, by, bz = q[1] / q[0], q[2] / q[0], q[3] / q[0]
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = bx * v[1] + by * v[2] + bz * v[3]
    g2 = (gamma - 1.0) / np.where(b2 > 0, b2, 1.0)
    c = g2 * bp + gamma * v[0]
    return np.stack([gamma * (v[0] + bp), v[1] + c * bx, v[2] + c * by, v[3] + c * bz])


def _boost_z(v, bz):
    """Boost of (4, n) four-vectors along z (the CM ↔ lab boost)."""
    gamma = 1.0 / math.sqrt(1.0 - bz * bz)
    return np.stack([gamma * (v[0] + bz * v[3]), v[1], v[2], gamma * (v[3] + bz * v[0])])


def _m2(v):
    return v[0] * v[0] - v[1] * v[1] - v[2] * v[2] - v[3] * v[3]


def _decay(rng, parent, m1, m2, cos_t=None):
    """Two-body decay of (4, n) ``parent`` into masses m1, m2 (isotropic unless ``cos_t``, about z)."""
    n = parent.shape[1]
    p = _p2body(np.sqrt(np.maximum(_m2(parent), 0.0)), m1, m2)
    ct = 2.0 * rng.random(n) - 1.0 if cos_t is None else cos_t
    d1 = _vec(p, ct, 2 * np.pi * rng.random(n), m1)
    return _to_frame_of(d1, parent), _to_frame_of(_partner(d1, p, m2), parent)


def _recoil(a, b):
    """Recoil four-vector p_beams − p_μ⁺ − p_μ⁻ (4, n) from CM four-vectors (4, n), p_beams = (√s, 0). Its mass²
    is M²_rec = s − 2√s E_μμ + M²_μμ in GeV² (punzi-loss.txt, Sec. 6: the analysis variable), negative after
    smearing at times."""
    rec = -(a + b)
    rec[0] += SQRT_S
    return rec


def belle_features(mu_plus, mu_minus):
    """The four features of punzi-loss.txt, Table 1, from CM four-vectors (n, 4) of the muons.

    Returns an (n, 4) float64 array, columns as in :data:`BELLE_FEATURES` (GeV):

    0. ``pt_thrust`` p*_t,thrust(μ): momentum of the muons transverse to the thrust axis. For two
       tracks the thrust axis is along p₁ − p₂ and both muons share ``|p₁ × p₂| / |p₁ − p₂|``.
    1. ``pt_rel`` p*_t,μmin(μmax): momentum of the higher-energy muon transverse to the
       lower-energy one, ``|p_max × p̂_min|``.
    2. ``pl_rel`` p*_l,μmin(μmax): its longitudinal component p_max · p̂_min (≈ −|p_max| for
       back-to-back muons).
    3. ``pt_mumu`` p*_t(μ⁺μ⁻): transverse momentum of the dimuon system w.r.t. the beam (z) axis.

    Back-to-back muons have features 0, 1 and 3 equal to zero.
    """
    a, b = array("mu_plus", mu_plus, ndim=2), array("mu_minus", mu_minus, ndim=2)
    require(a.shape == b.shape and a.shape[1] == 4,
            f"mu_plus and mu_minus must be (n, 4) four-vector arrays (E, px, py, pz), got {a.shape} and {b.shape}")
    return _features_t(a.T, b.T).T


def _norm3(x, y, z):
    return np.sqrt(x * x + y * y + z * z)


def _features_t(a, b):
    """Table-1 features from (4, n) CM four-vectors; returns (4, n)."""
    cross = _norm3(*np.cross(a[1:], b[1:], axis=0))
    diff = _norm3(*(a[1:] - b[1:]))
    pt_thrust = cross / np.where(diff > 0, diff, 1.0)
    first_max = a[0] >= b[0]
    pmax = np.where(first_max, a[1:], b[1:])
    pmin = np.where(first_max, b[1:], a[1:])
    nmin = _norm3(*pmin)
    safe = np.where(nmin > 0, nmin, 1.0)
    pt = np.where(nmin > 0, cross / safe, _norm3(*pmax))  # |p_max × p_min| / |p_min|
    pl = np.sum(pmax * pmin, axis=0) / safe
    return np.stack([pt_thrust, pt, pl, np.hypot(a[1] + b[1], a[2] + b[2])])


# --------------------------------------------------------------------------------------------
# process generators: return (mu_plus, mu_minus) true CM four-vectors, each (4, n)
# --------------------------------------------------------------------------------------------
_BETA_ISR = 2 * ALPHA / math.pi * (math.log(S / M_E**2) - 1.0)


def _isr_system(rng, n, s_min):
    """(4, n) four-momentum P − k₁ − k₂ left after collinear ISR off both beams, with mass² > s_min.

    Each beam radiates a photon with energy fraction x from β x^(β−1) (leading-log ISR,
    β = 2α/π (ln s/m_e² − 1) ≈ 0.088) at an angle θ to its beam with density ∝ θ/(θ² + θ₀²),
    θ₀ = m_e/E_beam, up to 0.2 rad: the photons escape along the beam pipe. Events below the
    threshold s_min are redrawn (the hard process is impossible there).
    """
    e_beam = SQRT_S / 2
    th0sq = (M_E / e_beam) ** 2
    qs, kept = [], 0
    while kept < n:
        k = int(1.05 * (n - kept)) + 64
        q = np.zeros((4, k))
        q[0] = SQRT_S
        for sign in (1.0, -1.0):
            x = rng.random(k) ** (1.0 / _BETA_ISR)
            th = np.sqrt(th0sq * (((0.2**2 + th0sq) / th0sq) ** rng.random(k) - 1.0))
            q -= _vec(x * e_beam, sign * np.cos(th), 2 * np.pi * rng.random(k), 0.0)
        qs.append(q[:, _m2(q) > s_min])
        kept += qs[-1].shape[1]
    return np.concatenate(qs, axis=1)[:, :n]


def _gen_signal(rng, mass, n):
    """n unweighted e⁺e⁻ → μ⁺μ⁻Z′ events (FSR off a muon; see module docstring), at the full √s: like the
    paper's MadGraph signal samples, without initial-state radiation."""
    m = M_MU
    u_lo = (m + mass) ** 2 - m * m
    u_hi = (SQRT_S - m) ** 2 - m * m
    mstar2 = np.empty(n)
    todo = np.arange(n)
    while len(todo):  # accept-reject per event: propagator proposal × phase-space weight
        u = u_lo * (u_hi / u_lo) ** rng.random(len(todo))  # ∝ 1/(m*² − m²): the propagator
        ms2 = u + m * m
        w = (np.sqrt(np.maximum(_lam(S, m * m, ms2), 0)) / S
             * np.sqrt(np.maximum(_lam(ms2, m * m, mass * mass), 0)) / ms2)  # Φ₂·Φ₂ ∈ [0, 1]
        ok = rng.random(len(todo)) < w
        mstar2[todo[ok]] = ms2[ok]
        todo = todo[~ok]
    mstar = np.sqrt(mstar2)
    p = _p2body(SQRT_S, m, mstar)
    star = _vec(p, _cos_1pc2(rng, n), 2 * np.pi * rng.random(n), mstar)
    mu_rad, _zp = _decay(rng, star, m, mass)
    plus_radiates = rng.random(n) < 0.5
    other = _partner(star, p, m)
    return np.where(plus_radiates, mu_rad, other), np.where(plus_radiates, other, mu_rad)


def _gen_mumu(rng, n, pt_min=0.0):
    """n e⁺e⁻ → μ⁺μ⁻(γ) events: collinear ISR off each beam (escaping photons), μμ with 1 + cos²θ.

    ``pt_min`` > 0 is a generator-level filter: only events whose true dimuon transverse momentum
    (that of the ISR-recoiling μμ system) exceeds it are decayed and returned. Returns
    ``(μ⁺, μ⁻, rep, n)``: ``rep[i]`` counts the generated events up to and including returned event i.
    """
    q = _isr_system(rng, n, (2 * M_MU + 0.01) ** 2)
    idx = np.flatnonzero(np.hypot(q[1], q[2]) > pt_min) if pt_min > 0 else np.arange(n)
    return (*_decay(rng, q[:, idx], M_MU, M_MU, cos_t=_cos_1pc2(rng, len(idx))), idx + 1, n)


def _michel_energy(rng, k):
    """Muon energy in the τ rest frame from the Michel spectrum x²(3 − 2x), x = E/E_max."""
    e_max = (M_TAU**2 + M_MU**2) / (2 * M_TAU)
    out = np.empty(0)
    while len(out) < k:
        x = rng.random(2 * (k - len(out)) + 16)
        x = x[(rng.random(len(x)) < x * x * (3 - 2 * x)) & (x * e_max > M_MU * 1.0001)]
        out = np.concatenate([out, x * e_max])
    return out[:k]


def _gen_tautau(rng, n):
    """n e⁺e⁻ → τ⁺τ⁻ events with ISR, both τ → μνν (Michel spectrum, unpolarised)."""
    q = _isr_system(rng, n, (2 * M_TAU + 0.01) ** 2)
    p_tau = np.sqrt(_m2(q) / 4 - M_TAU**2)
    tau = _vec(p_tau, _cos_1pc2(rng, n), 2 * np.pi * rng.random(n), M_TAU)
    muons = []
    for t in (tau, _partner(tau, p_tau, M_TAU)):  # τ⁺, τ⁻ in the τ⁺τ⁻ rest frame
        e = _michel_energy(rng, n)
        mu = _vec(np.sqrt(e * e - M_MU**2), 2 * rng.random(n) - 1, 2 * np.pi * rng.random(n), M_MU)
        muons.append(_to_frame_of(_to_frame_of(mu, t), q))
    return muons[0], muons[1]


def _breit_wheeler_g(beta):
    """σ(γγ → μμ) · W² / (2πα²) as a function of the muon velocity β in the γγ frame."""
    b = np.clip(beta, 0.0, 1 - 1e-12)
    return (3 - b**4) * np.log((1 + b) / (1 - b)) - 2 * b * (2 - b * b)


_EE_W_MIN, _EE_Q2_MAX, _EE_X_MAX = 0.5, 1.0, 0.99
_EE_TAU_MIN = (_EE_W_MIN / SQRT_S) ** 2
_EE_LOGTAU = np.linspace(math.log(_EE_TAU_MIN), 0.0, 4001)
# h(τ) = −ln τ · σ_γγ(W²=τs)·W²/(2πα²) tabulated in ln τ (smooth; linear interpolation error < 1e-5)
_EE_H = -_EE_LOGTAU * _breit_wheeler_g(np.sqrt(np.clip(1 - 4 * M_MU**2 / (np.exp(_EE_LOGTAU) * S), 0, 1)))
# Marginal of ln τ for the proposal (1/τ²)·h: sampled by a tabulated inverse CDF (4000 cells).
_EE_PDF = _EE_H * np.exp(-_EE_LOGTAU)
_EE_CDF = np.concatenate([[0.0], np.cumsum(0.5 * (_EE_PDF[1:] + _EE_PDF[:-1]) * np.diff(_EE_LOGTAU))])
_EE_CDF /= _EE_CDF[-1]
# Necessary conditions for both muons to be accepted, used to skip hopeless events early: the pair
# rapidity lies between the muon rapidities, |y| ≤ |η| for a massive particle, and E_μ > p > 0.5 GeV.
_ETA_ACC = (-math.log(math.tan(_ACC_THETA[1] / 2)), -math.log(math.tan(_ACC_THETA[0] / 2)))
_Y_BOOST = math.atanh(BOOST_BETA)


def _gen_eemumu(rng, n, pt_min=0.0):
    """Two-photon e⁺e⁻ → e⁺e⁻μ⁺μ⁻ events (equivalent-photon approximation, see module docstring).

    Returns (μ⁺, μ⁻, rep, n_generated): only n events that can pass the detector acceptance (exact
    necessary conditions on the pair rapidity and energy) and, with ``pt_min`` > 0, whose true dimuon
    transverse momentum exceeds ``pt_min`` (generator-level filter) are returned; ``rep[i]`` counts the
    generated events up to and including returned event i and ``n_generated`` all generated events, so
    that the cross-section bookkeeping stays exact.
    """
    e_beam = SQRT_S / 2
    blocks, kept, offset = [], 0, 0  # per pass: pair four-momenta, pair-frame cos θ, generated count
    while kept < n:
        k = int(3 * (n - kept)) + 256
        # τ = x1 x2 from its marginal ∝ h(τ)/τ² (h: −ln τ · σ_γγ W²); ln x1 uniform in [ln τ, 0];
        # accept with the equivalent-photon factors (1 + (1 − x)²)/2 of both photons
        logtau = np.interp(rng.random(k), _EE_CDF, _EE_LOGTAU)
        x1 = np.exp(logtau * rng.random(k))
        x2 = np.exp(logtau) / x1
        w = (1 + (1 - x1) ** 2) / 2 * (1 + (1 - x2) ** 2) / 2
        ok = (rng.random(k) < w) & (x1 < _EE_X_MAX) & (x2 < _EE_X_MAX)
        x1, x2 = x1[ok], x2[ok]
        k = len(x1)
        q = np.zeros((4, k))
        for x, sign in ((x1, 1.0), (x2, -1.0)):
            e_g = x * e_beam
            q2min = M_E**2 * x * x / (1 - x)
            q2 = q2min * (_EE_Q2_MAX / q2min) ** rng.random(k)
            qt = np.minimum(np.sqrt(q2 * (1 - x)), 0.5 * e_g)
            phi = 2 * np.pi * rng.random(k)
            q += np.stack([e_g, qt * np.cos(phi), qt * np.sin(phi), sign * np.sqrt(e_g**2 - qt**2)])
        q = q[:, _m2(q) > _EE_W_MIN**2]
        k = q.shape[1]
        # γγ → μμ angular distribution (Breit-Wheeler) about the z axis in the pair frame
        bet = np.sqrt(1 - 4 * M_MU**2 / _m2(q))
        c = np.tanh((2 * rng.random(k) - 1) * np.arctanh(bet)) / bet  # proposal ∝ 1/(1 − β²c²)
        s2 = 1 - c * c
        num = 1 + 2 * bet**2 * s2 - bet**4 - bet**4 * s2 * s2
        acc = rng.random(k) < num / (1 - bet**2 * c * c) / 2.0
        q, c = q[:, acc], c[acc]
        y_lab = 0.5 * np.log((q[0] + q[3]) / (q[0] - q[3])) + _Y_BOOST
        e_lab = (q[0] + BOOST_BETA * q[3]) / math.sqrt(1 - BOOST_BETA**2)
        hope = (y_lab > _ETA_ACC[0]) & (y_lab < _ETA_ACC[1]) & (e_lab > 2 * _ACC_P)
        if pt_min > 0:
            hope &= np.hypot(q[1], q[2]) > pt_min
        idx = np.flatnonzero(hope)
        blocks.append((q[:, idx], c[idx], offset + idx + 1))
        offset += q.shape[1]
        kept += len(idx)
    q, c, rep = (np.concatenate(b, axis=-1)[..., :n] for b in zip(*blocks))
    return (*_decay(rng, q, M_MU, M_MU, cos_t=c), rep, int(rep[-1]) if len(rep) else offset)


# --------------------------------------------------------------------------------------------
# toy detector
# --------------------------------------------------------------------------------------------
_COS_ACC = (math.cos(_ACC_THETA[1]), math.cos(_ACC_THETA[0]))


def _accept(v):
    p = _norm3(v[1], v[2], v[3])
    cos_t = v[3] / np.where(p > 0, p, 1.0)
    return (p > _ACC_P) & (cos_t < _COS_ACC[1]) & (cos_t > _COS_ACC[0])


def _smear(rng, v):
    """Track smearing in the lab: σ(p_T)/p_T = 0.11 % p_T ⊕ 0.25 %/β; angles 1 mrad ⊕ 1 mrad·GeV/p."""
    n = v.shape[1]
    p = _norm3(v[1], v[2], v[3])
    pt = np.hypot(v[1], v[2])
    rel = np.hypot(0.0011 * pt, 0.0025 * v[0] / p)
    ang = np.hypot(0.001, 0.001 / p)
    # small-angle smearing: add a Gaussian vector of size ang·p, project out its radial part
    g = rng.standard_normal((3, n)) * (ang * p)
    u = v[1:] / p
    g -= np.sum(g * u, axis=0) * u
    d = v[1:] + g
    d *= (p * (1 + rel * rng.standard_normal(n)) / _norm3(*d))
    return np.concatenate([np.sqrt(np.sum(d * d, axis=0) + M_MU**2)[None], d])


def _detect_loop(rng, gen, n, preselection_pt=0.0):
    """Generate until ``n`` events pass the acceptance and the preselection; return truth, CM vectors, #trials.

    ``gen(rng, k)`` returns ``(μ⁺, μ⁻)`` for k generated events or ``(μ⁺, μ⁻, rep, n_generated)`` when it
    filters at generator level (``rep[i]``: generated events up to and including returned event i).
    An event is kept if both muons are inside the acceptance and the smeared dimuon transverse momentum
    in the CM frame exceeds ``preselection_pt``. All four returned arrays are (4, n); ``tried`` counts
    the generated events (kept or not) that the returned sample represents.
    """
    blocks, kept, tried, chunk = [], 0, 0, n
    while kept < n:
        mp, mm, *filtered = gen(rng, chunk)
        rep, n_generated = filtered or (np.arange(1, mp.shape[1] + 1), mp.shape[1])
        lp, lm = _boost_z(mp, BOOST_BETA), _boost_z(mm, BOOST_BETA)
        acc = np.flatnonzero(_accept(lp) & _accept(lm))
        rp = _boost_z(_smear(rng, lp[:, acc]), -BOOST_BETA)
        rm = _boost_z(_smear(rng, lm[:, acc]), -BOOST_BETA)
        pt_mumu = np.hypot(rp[1] + rm[1], rp[2] + rm[2])  # reconstructed, CM frame (feature ``pt_mumu``)
        sel = np.flatnonzero(pt_mumu > preselection_pt) if preselection_pt > 0 else np.arange(len(acc))
        need = n - kept
        if len(sel) > need:  # keep the first `need` events; count trials up to the last kept one
            sel = sel[:need]
            tried += int(rep[acc[sel[-1]]])
        else:
            tried += n_generated
        blocks.append((mp[:, acc[sel]], mm[:, acc[sel]], rp[:, sel], rm[:, sel]))
        kept += len(sel)
        frac = max(len(sel) / chunk, 1e-4)
        chunk = int(min(max((n - kept) / frac * 1.1, 256), 2_000_000))
    return (*(np.concatenate(b, axis=1) for b in zip(*blocks)), tried)


# --------------------------------------------------------------------------------------------
# the data set
# --------------------------------------------------------------------------------------------
def _robust_sigma(x):
    """1.4826 × median absolute deviation: the Gaussian σ of the peak core."""
    return 1.4826 * np.median(np.abs(x - np.median(x)))


@dataclass(eq=False, kw_only=True)
class BelleToy(Sample):
    """A generated Belle II-like toy sample (see :func:`make_belle_toy`): a
    :class:`~hepsig_tutorial.data.sample.Sample` with the analysis's metadata.

    Events are shuffled. Per event (N events, K mass hypotheses):

    x : (N, 4) float32
        Table-1 features (punzi-loss.txt, Table 1) in GeV, names in ``feature_names``.
    y : (N,) int8
        1 signal, 0 background.
    w : (N,) float64
        Background: expected events per simulated event at ``luminosity`` (target L / sample L,
        the s_bkg of punzi-loss.txt Eq. 11). Signal: 1 / n_gen[mass] (Eq. 10 with s_sig = 1), with
        n_gen the events *generated* (before acceptance and preselection), so summing signal weights
        of one mass gives an efficiency that includes the detector acceptance.
    extras["m2_rec"] : (N,) float64
        Squared recoil mass M²_rec in GeV² (also ``toy.m2_rec``, like every extra).
    extras["process"] : (N,) int64
        0 signal, 1 μμ(γ), 2 ττ, 3 eeμμ (``process_names``).
    extras["mass_index"] : (N,) int64
        Index into ``masses`` for signal events, −1 for background.
    extras["truth"] : (N, 3, 4) float64 or None
        True CM four-vectors (μ⁺, μ⁻, recoil system) before smearing, if ``keep_truth=True``.

    Metadata:

    masses, sigma_m2, windows, n_gen : (K,), (K,), (K, 2), (K,)
        Z′ masses (GeV), measured M²_rec resolution (GeV², 1.4826·MAD of the kept signal),
        the ±2σ windows [m² − 2σ, m² + 2σ] and the signal events generated per mass (a part of
        :meth:`~hepsig_tutorial.data.sample.Sample.split` carries its share, a float).
    luminosity : float
        Target luminosity in fb⁻¹.
    cross_section, visible_cross_section, sample_luminosity : dict
        Per background: generated σ (fb), σ × detector acceptance × preselection (fb), simulated-sample
        luminosity N_generated / σ (fb⁻¹; events removed by the generator filter count as generated).
    signal_acceptance : (K,)
        Fraction of generated signal events inside the toy detector acceptance and the preselection.
    preselection_pt, generator_filter_pt :
        The reconstructed p*_t(μ⁺μ⁻) preselection (GeV) and the generator-level true-p_t filter of each
        background sample (GeV; 0: none).
    """

    masses: np.ndarray
    sigma_m2: np.ndarray
    windows: np.ndarray
    n_gen: np.ndarray
    luminosity: float
    cross_section: dict = field(default_factory=dict)
    visible_cross_section: dict = field(default_factory=dict)
    sample_luminosity: dict = field(default_factory=dict)
    signal_acceptance: np.ndarray | None = None
    preselection_pt: float = 0.0
    generator_filter_pt: dict = field(default_factory=dict)
    feature_names: list = field(default_factory=lambda: list(BELLE_FEATURES))
    process_names: list = field(default_factory=lambda: list(BELLE_PROCESSES))

    def __repr__(self):
        n_sig = int(self.y.sum())
        return (f"BelleToy({len(self)} events: {n_sig} signal in {len(self.masses)} masses, "
                f"{len(self) - n_sig} background; L = {self.luminosity:g} fb^-1)")

    def window_matrix(self):
        """(N, K) bool: event i counts for hypothesis k (punzi-loss.txt, Sec. 6).

        True if M²_rec lies in window k *and* the event is background or signal of mass k
        ("only signal events that were generated for the corresponding mass").
        """
        return np.stack([self.window_column(k) for k in range(len(self.masses))], axis=1)

    def window_column(self, k):
        """(N,) bool: column ``k`` of :meth:`window_matrix` without building the whole matrix."""
        require(0 <= int(k) < len(self.masses), f"k must be a mass index in [0, {len(self.masses)}), got {k!r}")
        lo, hi = self.windows[int(k)]
        return (self.m2_rec >= lo) & (self.m2_rec <= hi) & ((self.y == 0) | (self.mass_index == int(k)))

    def expected(self, process=None):
        """Sum of weights: expected background events at ``luminosity`` (per process or all).

        ``process`` is an index or a name; for the signal it returns Σ 1/n_gen = number of masses.
        """
        if process is None:
            return float(self.w[self.y == 0].sum())
        if isinstance(process, str):
            process = self.process_names.index(choice("process", process, self.process_names))
        return float(self.w[self.process == process].sum())

    def strata(self):
        """Split strata: each background process and each signal mass (so a part of
        :meth:`~hepsig_tutorial.data.sample.Sample.split` keeps every mass's efficiency, acceptance included,
        as punzi-loss.txt Sec. 4 requires)."""
        return np.where(self.y == 1, self.mass_index, -1 - self.process)

    def _part(self, sub, mask):
        # n_gen of a part: its share of each mass's generated events
        k, sig = len(self.masses), self.mass_index >= 0
        share = (np.bincount(self.mass_index[mask & sig], minlength=k)
                 / np.maximum(np.bincount(self.mass_index[sig], minlength=k), 1))
        return replace(sub, n_gen=np.asarray(self.n_gen, dtype=np.float64) * share)

    def window_groups(self):
        """The K mass windows as index arrays (``groups`` of :func:`hepsig_tutorial.metrics.cut_scan`).

        Group k holds the events that count for hypothesis k (:meth:`window_matrix`, column k), as
        positions in this toy: memory O(Σ|window|), no N×K matrix.
        """
        return [np.flatnonzero(self.window_column(k)) for k in range(len(self.masses))]


def make_belle_toy(masses, n_signal_per_mass, n_background, *, luminosity=50.0, seed=0, keep_truth=False,
                   preselection_pt=None, generator_filter_pt=None):
    """Generate the Belle II-like toy of punzi-loss.txt Sec. 6 (physics in the module docstring).

    Parameters
    ----------
    masses : array of float
        Z′ masses in GeV, each in (0, √s − 2m_μ); the paper's are :data:`PAPER_MASSES` (89).
    n_signal_per_mass : int
        Signal events kept per mass (inside the detector acceptance and the preselection; the paper:
        20 000 generated). Their weights are 1/N_generated, so the efficiencies include acceptance and
        preselection (punzi-loss.txt, Eq. 10).
    n_background : int or sequence of 3 ints
        Simulated background events kept (acceptance and preselection): a total, split
        15 % / 55 % / 30 % over μμ(γ), ττ, eeμμ, or one count per process.
    luminosity : float
        Target luminosity in fb⁻¹ (paper: 50).
    seed : int
        Each mass and each background draws from its own stream derived from ``seed`` (and the mass
        in MeV), so the same mass gets the same events whatever the mass list.
    keep_truth : bool
        Store the true CM four-vectors (μ⁺, μ⁻, recoil) in ``toy.truth``.
    preselection_pt : float, optional
        Every kept event (signal and background) has a reconstructed dimuon transverse momentum in
        the CM frame p*_t(μ⁺μ⁻) above this (GeV). Default :data:`PRESELECTION_PT`; 0 switches it off.
    generator_filter_pt : float, optional
        Generator-level filter on the *true* dimuon transverse momentum of the μμ(γ) and eeμμ samples
        (GeV): events below it are counted in the sample luminosity but not simulated further, so the
        same number of kept events stands for a larger luminosity. It must stay below the
        preselection by a smearing margin (``FILTER_MARGIN``), so that no event the preselection
        keeps is filtered out. Default :data:`GENERATOR_FILTER_PT` (0 with ``preselection_pt=0``).

    Returns
    -------
    BelleToy
    """
    preselection_pt = number("preselection_pt", PRESELECTION_PT if preselection_pt is None else preselection_pt,
                             low=0, high=3, high_open=True)
    if generator_filter_pt is None:
        generator_filter_pt = max(min(GENERATOR_FILTER_PT, preselection_pt - FILTER_MARGIN), 0.0)
    generator_filter_pt = number("generator_filter_pt", generator_filter_pt, low=0)
    require(generator_filter_pt == 0 or generator_filter_pt <= preselection_pt - FILTER_MARGIN + 1e-12,
            f"generator_filter_pt must be ≤ preselection_pt − {FILTER_MARGIN} GeV (smearing margin), "
            f"got {generator_filter_pt!r} with preselection_pt = {preselection_pt!r}")
    masses = np.atleast_1d(np.asarray(masses, dtype=np.float64))
    require(masses.ndim == 1 and len(masses) > 0 and np.all(np.isfinite(masses)),
            "masses must be a non-empty 1D array of finite numbers")
    require((masses > 0) & (masses < SQRT_S - 2 * M_MU),
            f"masses must lie in (0, √s − 2m_μ) = (0, {SQRT_S - 2 * M_MU:.3f}) GeV, got {masses}")
    require(len(np.unique(np.round(masses * 1000))) == len(masses), "masses must be distinct (to 1 MeV)")
    n_sig = integer("n_signal_per_mass", n_signal_per_mass, minimum=1)
    if np.ndim(n_background) == 0:
        total = integer("n_background", n_background, minimum=3)
        n_bkg = [int(round(f * total)) for f in _BKG_SHARES[:2]]
        n_bkg.append(total - sum(n_bkg))
        require(min(n_bkg) >= 1, f"n_background is too small to give each process an event, got {total}")
    else:
        require(len(n_background) == 3, f"n_background must be an int or 3 ints, got {n_background!r}")
        n_bkg = [integer("n_background", v, minimum=1) for v in n_background]
    luminosity = number("luminosity", luminosity, low=0, low_open=True)
    seed = integer("seed", seed)

    blocks = []  # per sample: truth μ⁺, μ⁻, reconstructed μ⁺, μ⁻ (4, n); process, mass index, weight (n,)
    n_gen = np.zeros(len(masses))
    for k, m in enumerate(masses):
        rng = np.random.default_rng([seed, 0, int(round(m * 1000))])
        *vectors, n_gen[k] = _detect_loop(rng, lambda r, n, m=m: _gen_signal(r, m, n), n_sig, preselection_pt)
        blocks.append((*vectors, np.zeros(n_sig, np.int64), np.full(n_sig, k), np.full(n_sig, 1.0 / n_gen[k])))
    filt = generator_filter_pt
    gens = [lambda r, n: _gen_mumu(r, n, filt), _gen_tautau, lambda r, n: _gen_eemumu(r, n, filt)]
    vis, lsam = {}, {}
    for j, (name, gen, n) in enumerate(zip(BELLE_PROCESSES[1:], gens, n_bkg)):
        *vectors, tried = _detect_loop(np.random.default_rng([seed, j + 1]), gen, n, preselection_pt)
        lsam[name] = tried / BELLE_CROSS_SECTIONS[name]
        vis[name] = BELLE_CROSS_SECTIONS[name] * n / tried
        blocks.append((*vectors, np.full(n, j + 1), np.full(n, -1), np.full(n, luminosity / lsam[name])))
    columns = list(zip(*blocks))
    del blocks
    reco_p, reco_m, process, mass_index, weight = (np.concatenate(c, axis=-1) for c in columns[2:])
    m2 = _m2(_recoil(reco_p, reco_m))
    feats = _features_t(reco_p, reco_m).T.astype(np.float32)
    del reco_p, reco_m  # (paper scale: 4 × 8 bytes × 2 per event)
    truth = None
    if keep_truth:
        tp, tm = (np.concatenate(c, axis=1) for c in columns[:2])
        truth = np.stack([tp.T, tm.T, _recoil(tp, tm).T], axis=1)
    del columns

    sigma_m2 = np.array([_robust_sigma(m2[mass_index == k]) for k in range(len(masses))])
    windows = np.stack([masses**2 - 2 * sigma_m2, masses**2 + 2 * sigma_m2], axis=1)

    extras = dict(m2_rec=m2, process=process, mass_index=mass_index, truth=truth)
    toy = BelleToy(feats, (process == 0).astype(np.int8), weight, extras, masses=masses, sigma_m2=sigma_m2,
                   windows=windows, n_gen=n_gen, luminosity=luminosity, cross_section=dict(BELLE_CROSS_SECTIONS),
                   visible_cross_section=vis, sample_luminosity=lsam, signal_acceptance=n_sig / n_gen,
                   preselection_pt=preselection_pt,
                   generator_filter_pt={"mumu(gamma)": filt, "tautau": 0.0, "eemumu": filt})
    return toy.subset(np.random.default_rng([seed, 99]).permutation(len(toy)))  # events shuffled
