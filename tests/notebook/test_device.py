import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hw2_helpers

import hw2_models
from conftest import REPO


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("HW2_DEVICE", raising=False)


def machine(monkeypatch, cuda=0, mps=False, cuda_build=True, mps_build=True):
    """Pretend this machine has ``cuda`` GPUs and MPS or not (and a torch built with each or not)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps_build)
    monkeypatch.setattr(torch.version, "cuda", "13.0" if cuda_build else None)


@pytest.mark.parametrize("value, expected", [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1"), ("mps", "mps"),
                                             (" CUDA:0 ", "cuda:0")])
def test_hw2_device_decides_when_available(monkeypatch, value, expected):
    machine(monkeypatch, cuda=2, mps=True)
    monkeypatch.setenv("HW2_DEVICE", value)
    device, reason = hw2_models.device_choice()
    assert device == torch.device(expected) and hw2_models.get_device() == torch.device(expected)
    assert reason == f"set by HW2_DEVICE={value.strip()}"


@pytest.mark.parametrize("value, kwargs, words", [
    ("cuda", dict(cuda_build=False), "has no CUDA support"),
    ("cuda", dict(), "no CUDA GPU is visible"),
    ("cuda:1", dict(cuda=1), "no GPU with index 1: this machine has 1"),
    ("mps", dict(), "no MPS device on this machine"),
    ("mps", dict(mps_build=False), "has no MPS support"),
])
def test_hw2_device_that_is_unavailable_says_why_and_what_is(monkeypatch, value, kwargs, words):
    machine(monkeypatch, **kwargs)
    monkeypatch.setenv("HW2_DEVICE", value)
    with pytest.raises(hw2_models.DeviceError) as error:
        hw2_models.get_device()
    message = str(error.value)
    assert f"HW2_DEVICE={value!r}" in message and words in message
    available = "cpu, cuda, cuda:0" if kwargs.get("cuda") else "cpu"
    assert f"Devices available here: {available}." in message and "unset it" in message


@pytest.mark.parametrize("value", ["gpu", "cpu:0", "mps:1", "cuda:x", "tpu"])
def test_hw2_device_unknown_value(monkeypatch, value):
    machine(monkeypatch, mps=True)
    monkeypatch.setenv("HW2_DEVICE", value)
    with pytest.raises(hw2_models.DeviceError) as error:
        hw2_models.get_device()
    message = str(error.value)
    assert f"HW2_DEVICE={value!r} is not a device this notebook knows" in message
    assert "cpu, cuda, cuda:N" in message and "Devices available here: cpu, mps." in message


def test_automatic_choice_says_so(monkeypatch):
    machine(monkeypatch)
    assert hw2_models.device_choice() == (torch.device("cpu"), "chosen automatically: no CUDA GPU and no Apple MPS on this machine")
    monkeypatch.setenv("HW2_DEVICE", "")
    assert hw2_models.device_choice()[0] == torch.device("cpu")


@pytest.mark.parametrize("device, expected", [("cpu", torch.channels_last), (torch.device("cpu"), torch.channels_last),
                                              ("cuda", torch.contiguous_format), ("cuda:1", torch.contiguous_format),
                                              ("mps", torch.contiguous_format)])
def test_memory_format_is_channels_last_on_the_cpu_only(device, expected):
    assert hw2_helpers.memory_format(device) == expected


def test_no_model_is_put_in_channels_last_but_through_memory_format():
    # The layout was measured on the CPU only; every model placement goes through memory_format(device).
    import nbformat

    from conftest import NOTEBOOK, source

    texts = {path.relative_to(REPO): path.read_text() for folder in ["bench", "tools"] for path in (REPO / folder).glob("*.py")}
    texts["hw2_models.py"] = (REPO / "hw2_models.py").read_text()
    module = (REPO / "hw2_helpers" / "training.py").read_text()
    start = module.index("def memory_format")
    texts["hw2_helpers/training.py (outside memory_format)"] = module[:start] + module[module.index("\ndef ", start + 1):]
    texts.update({path.relative_to(REPO): path.read_text() for path in (REPO / "hw2_helpers").glob("*.py")
                  if path.name != "training.py"})
    texts["hw2.ipynb"] = "\n".join(source(c) for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code")
    for name, text in texts.items():
        assert "channels_last" not in text, name
    placements = [line for line in texts["hw2.ipynb"].splitlines() if "memory_format=" in line]
    assert len(placements) >= 5 and all("memory_format=hw2.memory_format(device)" in line for line in placements), placements
    assert "layout = helpers.memory_format(device)" in texts[Path("bench/benchmark.py")]  # the "project" rows
    assert "memory_format=helpers.memory_format(device)" in texts[Path("bench/lenet_seeds.py")]


def test_cuda_first(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert hw2_models.get_device() == torch.device("cuda")


def test_mps_second(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert hw2_models.get_device() == torch.device("mps")


def test_cpu_last(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert hw2_models.get_device() == torch.device("cpu")


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "PYTORCH_ENABLE_MPS_FALLBACK"} | env
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_mps_fallback_is_on_before_torch_loads():
    # Importing the module first turns the CPU fallback on before torch reads the variable.
    code = "import hw2_models, os; print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    assert run_python(code) == "1"


@pytest.mark.slow
def test_mps_fallback_respects_the_users_choice():
    code = "import hw2_models, os; print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    assert run_python(code, PYTORCH_ENABLE_MPS_FALLBACK="0") == "0"
