import gymnasium as gym
from gymnasium.wrappers import FlattenObservation, FrameStackObservation
import envs  # noqa: registers
K = 8
def _stack(env_id, **kw):
    return FlattenObservation(FrameStackObservation(gym.make(env_id, **kw), K, padding_type="reset"))
def cliff(**kw): return _stack("CliffCar-v0", **kw)
def kerb(**kw): return _stack("CliffCarKerb-v0", **kw)
