import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# MuJoCo (PointMaze pixels) renders headless through EGL; without a GPU, Mesa's EGL renders on
# the CPU (.ci/run installs libegl1 libegl-mesa0 libgl1-mesa-dri). Must be set before mujoco loads.
os.environ.setdefault("MUJOCO_GL", "egl")
