import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# MuJoCo (PointMaze pixels) renders headless through EGL; without a GPU, Mesa's EGL renders on
# the CPU (.ci/run installs libegl1 libegl-mesa0 libgl1-mesa-dri). Must be set before mujoco loads.
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (tiny batches: more threads only oversubscribe the 2-core
    CI machine); the previous setting is restored afterwards. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
