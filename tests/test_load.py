"""A short load test for CI: 8 concurrent gradio_client users x 3 requests mixing super-resolution,
inpainting and aligned faces of different sizes, tiny random models, on 127.0.0.1. The same driver
runs longer on demand: ``python -m benchmarks.load_test --clients 8 --minutes 3``."""
import pytest

from benchmarks.load_test import FILES_PER_REQUEST, run_load, tiny_manager

RSS_MARGIN_MB = 150  # allocator and thread-pool noise; a per-request leak of the results would exceed it


@pytest.mark.timeout(300)
def test_concurrent_users_each_get_their_own_results_and_nothing_leaks(tmp_path):
    manager, models = tiny_manager()
    figures = run_load(manager, models, clients=8, requests=3, steps=1, workdir=tmp_path)
    assert figures.failures == []  # no error, no hung user, no result that differs from a direct call
    # the CPU queue bound (16) exceeds the 8 users, so nobody is turned away
    assert (figures.requests, figures.served, figures.rejected) == (24, 24, 0)
    # every result was written to its own files, and all of them are Gradio's to delete
    assert 2 * figures.served <= figures.request_files_after_run <= FILES_PER_REQUEST * figures.served
    assert figures.request_files_after_cleanup == 0
    assert figures.rss_after_mb <= figures.rss_baseline_mb + RSS_MARGIN_MB, figures.lines()
