"""CPU and CUDA agree (needs a CUDA build of PyTorch and a GPU)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def test_cpu_and_cuda_agree():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA")
    from solvers.rpca.deep import heldout_set, load_model

    hs = heldout_set(4)
    m = load_model("default")
    p_cpu = m.predict(hs.images, device="cpu")
    p_gpu = m.predict(hs.images, device="cuda")
    m.net.cpu()
    assert np.abs(p_cpu - p_gpu).max() < 1e-3
    assert (np.mean((p_cpu > 0.5) != (p_gpu > 0.5))) < 1e-4
