"""Lan-DeMets O'Brien-Fleming boundaries and the required information size."""
import numpy as np
import pytest

from analysis.stats.sequential import obf_boundaries, obf_spending, required_information_size


def test_boundaries_four_equally_spaced_looks():
    # Lan & DeMets (1983) O'Brien-Fleming-type spending, two-sided alpha 0.05 at information
    # fractions 0.25/0.5/0.75/1: 4.3326, 2.9631, 2.3590, 2.0141 (Jennison & Turnbull 2000,
    # Table 7.5 convention; identical to R gsDesign sfLDOF, one-sided 0.025, K = 4).
    bounds = obf_boundaries([0.25, 0.5, 0.75, 1.0], alpha=0.05)
    np.testing.assert_allclose(bounds, [4.3326, 2.9631, 2.3590, 2.0141], atol=5e-5)


def test_boundaries_five_equally_spaced_looks():
    # Same convention, K = 5 (gsDesign sfLDOF, one-sided 0.025): 4.8769, 3.3569, 2.6803, 2.2898, 2.0310.
    bounds = obf_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05)
    np.testing.assert_allclose(bounds, [4.8769, 3.3569, 2.6803, 2.2898, 2.0310], atol=1.5e-4)


def test_single_look_is_the_fixed_sample_test():
    assert obf_boundaries([1.0])[0] == pytest.approx(1.959964, abs=1e-6)


def test_spending_reaches_alpha_at_full_information():
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05, abs=1e-12)
    assert obf_spending(1.7, 0.05) == pytest.approx(0.05, abs=1e-12)  # beyond the RIS: capped
    assert np.all(np.diff(obf_spending(np.linspace(0.05, 1, 20))) > 0)


def test_boundaries_reject_bad_fractions():
    with pytest.raises(ValueError):
        obf_boundaries([0.5, 0.25])
    with pytest.raises(ValueError):
        obf_boundaries([0.0, 1.0])


def test_required_information_size_hand_computed():
    # 4 (z_0.975 + z_0.8)^2 / 0.2^2 = 4 * (1.959964 + 0.841621)^2 / 0.04 = 784.89
    assert required_information_size(0.2) == pytest.approx(4 * (1.959964 + 0.841621) ** 2 / 0.04, rel=1e-6)
    # D2 = 0.5 doubles it (Wetterslev et al. 2009)
    assert required_information_size(0.2, d2=0.5) == pytest.approx(2 * required_information_size(0.2))


def test_grid_resolution_does_not_move_the_boundaries():
    coarse = obf_boundaries([0.1, 0.3, 0.45, 0.8, 1.0], grid=401)
    fine = obf_boundaries([0.1, 0.3, 0.45, 0.8, 1.0], grid=2001)
    np.testing.assert_allclose(coarse, fine, atol=1e-7)
