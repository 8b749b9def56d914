"""``examples/train.py`` with the fall-risk critic's heads frozen after loading the init checkpoint.

Tests the reading that the loop wears the risk margin down because R learns from the loop's own,
mostly safe, driving. Same arguments as ``examples/train.py`` (needs ``--init-checkpoint`` with a
risk critic); everything else learns as usual.

    python frozen_risk_train.py --env cliff-car --init-checkpoint X --risk-step-coef 0.003 ...
"""
import runpy
import sys
from pathlib import Path

import agent.mpc as mpc

_load = mpc.MPCAgent.load.__func__


def _load_frozen(cls, *args, **kwargs):
    agent = _load(cls, *args, **kwargs)
    if agent.critic.risk_heads is None:
        raise SystemExit("frozen_risk_train.py: the init checkpoint has no fall-risk critic")
    agent.critic.risk_heads.requires_grad_(False)  # Adam skips parameters without gradients
    return agent


mpc.MPCAgent.load = classmethod(_load_frozen)
root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root / "examples"))
sys.argv = [str(root / "examples" / "train.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
