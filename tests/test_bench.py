"""The speed benchmark (`python -m benchmarks.speed`) runs and reports what it promises (no timings
are asserted: speed targets live in the benchmark's output, not in tests)."""
import json
import math

import pytest
import torch

from benchmarks.speed import Case, main, psnr, run_case


@pytest.mark.slow
def test_run_case_reports_latency_memory_and_difference():
    row = run_case(Case("tiny", "lite-sr", 64), "cpu", "bf16", repeat=2, channels_last=True,
                   compile=False, compare=True, bundled=False)
    assert row["output"] == "256x256" and row["input"] == "1x64"
    assert 0 < row["best_ms"] <= row["median_ms"] and row["images_per_s"] > 0
    assert row["peak_rss_gib"] > 0 and row["compile"] is False
    assert math.isfinite(row["psnr_vs_fp32_db"]) and row["psnr_vs_fp32_db"] > 30  # bf16 vs fp32, same noise


@pytest.mark.slow
def test_cli_prints_json_rows(capsys, tmp_path):
    out = tmp_path / "rows.jsonl"
    assert main(["--device", "cpu", "--cases", "lite_sr256", "--precision", "fp32", "--repeat", "1",
                 "--in-process", "--lite-weights", "random", "--no-compare", "--json", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["torch"] and lines[1]["case"] == "lite_sr256" and lines[1]["output"] == "1024x1024"
    assert json.loads(out.read_text())["median_ms"] == lines[1]["median_ms"]


def test_psnr_of_restorations_in_minus_one_to_one():
    a = torch.zeros(1, 3, 8, 8)
    assert psnr(a, a + 0.02) == pytest.approx(40.0, abs=1e-4)  # mse 4e-4 on a peak-to-peak range of 2
    assert psnr(a, a) == math.inf
    over = torch.full((1, 3, 8, 8), 1.5)
    assert psnr(over, over - 0.5) == math.inf  # equal once clamped to [-1, 1], as pixels
    assert psnr(over, over - 0.5, clamp=False) == pytest.approx(10 * math.log10(16), abs=1e-6)
