import os
import subprocess
import sys

import torch

import hw2_models
from conftest import REPO


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


def test_mps_fallback_is_on_before_torch_loads():
    # Importing the module first turns the CPU fallback on before torch reads the variable.
    code = "import hw2_models, os; print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    assert run_python(code) == "1"


def test_mps_fallback_respects_the_users_choice():
    code = "import hw2_models, os; print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    assert run_python(code, PYTORCH_ENABLE_MPS_FALLBACK="0") == "0"
