"""Which model the studio preselects."""
from resshift.catalog import all_models
from resshift.manager import ModelManager
from studio.models import default_name, label


def test_cpu_prefers_bundled_lite_even_when_official_weights_are_on_disk(tmp_path):
    for name in ("resshift_realsrx4_s4_v3.pth", "autoencoder_vq_f4.pth"):
        (tmp_path / name).write_bytes(b"x")  # present on disk (not loaded here)
    cpu = ModelManager(all_models(), device="cpu", weights_dir=tmp_path, allow_download=False)
    assert "on disk" in label(cpu, "realsr-v3") and "bundled" in label(cpu, "lite-sr")
    assert default_name(cpu, "sr") == "lite-sr"


def test_without_official_weights_the_bundled_model_is_preselected(tmp_path):
    m = ModelManager(all_models(), device="cpu", weights_dir=tmp_path, allow_download=True)
    assert "download on first use" in label(m, "realsr-v3")
    assert [default_name(m, t) for t in ("sr", "inpaint", "face")] == ["lite-sr", "lite-inpaint", "lite-face"]


def test_the_model_lists_help_says_whether_this_server_downloads(tmp_path):
    import app
    from studio.limits import Limits

    def infos(allow_download: bool) -> set[str]:
        manager = ModelManager(all_models(), device="cpu", weights_dir=tmp_path, allow_download=allow_download)
        demo = app.build_demo(manager, limits=Limits.defaults("cpu"), files_root=tmp_path / "files")
        return {c["props"].get("info") for c in demo.config["components"] if c["props"].get("label") == "Model"}

    assert infos(True) == {"Weights load once and stay cached; official ones download on first use."}
    assert infos(False) == {"Weights load once and stay cached; this server does not download: models not on "
                            "disk are marked."}
