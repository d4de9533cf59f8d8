"""claims.py: each paper's claim decided from table figures (hand-made tables here)."""
import numpy as np
import pytest

import claims


def _e(psnr, ssim):
    names = ("stacked", "res_bn", "nonbn_res", "nonbn_res_l")
    methods = {n: {"status": "ok", "mean": {"psnr": p, "ssim": s}} for n, p, s in zip(names, psnr, ssim)}
    methods["blurred input"] = {"status": "ok", "mean": {"psnr": 20.0, "ssim": 0.5}}
    return {"methods": methods}


def test_e_ranking_and_ssim_claims():
    held = claims.claim_e(_e((25.1, 25.8, 28.5, 28.4), (0.80, 0.89, 0.917, 0.933)))
    assert [r["holds"] for r in held] == [True, True]
    assert "NonBN-ResG 28.50 > NonBN-ResG-L 28.40 > ResG 25.80 > StackedG 25.10" in held[0]["evidence"]
    failed = claims.claim_e(_e((25.9, 25.8, 28.5, 28.4), (0.80, 0.89, 0.93, 0.92)))
    assert [r["holds"] for r in failed] == [False, False]
    assert claims.claim_e({"methods": {}}) == []          # variants not trained: no claim, no crash


def test_d_claims_compare_the_two_models_and_the_best_classical_fill():
    def row(p):
        return {"status": "ok", "mean": {"psnr": p, "psnr_hole": p - 6}}
    methods = {"ours(l_rec)": row(19.2), "ours(l_rec + l_adv)": row(18.4), "OpenCV Telea": row(19.17),
               "OpenCV Navier-Stokes": row(19.44), "scikit-image biharmonic": row(19.12)}
    adv, classical = claims.claim_d({"sets": {"set5": {"methods": methods}}})
    assert not adv["holds"] and not classical["holds"] and "best model 19.20" in classical["evidence"]
    methods["ours(l_rec)"] = row(19.5)
    assert claims.claim_d({"sets": {"set5": {"methods": methods}}})[1]["holds"]


def test_hole_detail_is_the_mean_gradient_magnitude_in_the_hole():
    hole = np.zeros((8, 8), bool)
    hole[2:6, 2:6] = True
    flat = np.full((8, 8, 3), 100, np.uint8)
    assert claims.hole_detail(flat, hole) == 0.0
    ramp = np.repeat(np.repeat(np.arange(8, dtype=np.uint8)[None, :, None] * 10, 8, axis=0), 3, axis=2)
    assert claims.hole_detail(ramp, hole) == pytest.approx(10.0, rel=1e-5)   # 10 grey levels per pixel in x


def test_c_claim_reads_the_search_history():
    (row,) = claims.claim_c([(0, 200.0), (10, 150.0), (20, 100.0)])
    assert row["holds"] and "-50%" in row["evidence"]
    assert not claims.claim_c([(0, 100.0), (20, 120.0)])[0]["holds"]
    assert not claims.claim_c([(0, 1095.2), (1, 1095.1)])[0]["holds"]      # a wobble, not a search
    assert claims.claim_c([(0, 1.0)]) == []
