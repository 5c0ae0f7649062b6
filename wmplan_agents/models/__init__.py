"""World models: the ground truth of envs with known dynamics, a hand-written PointMaze model,
and learned models."""

from wmplan_agents.models.contrastive import ContrastiveEncoder
from wmplan_agents.models.conv import ConvStateWorldModel, ConvWorldModel
from wmplan_agents.models.energy import EnergyMLP
from wmplan_agents.models.features import AngleFeatureDynamics
from wmplan_agents.models.ground_truth import GroundTruthModel, ground_truth
from wmplan_agents.models.helm import HELM, HELMPlanningModel
from wmplan_agents.models.keypoint import KeypointWorldModel
from wmplan_agents.models.latent import LatentStateDynamics
from wmplan_agents.models.mlp import MLPDynamics
from wmplan_agents.models.pad import PaDModel
from wmplan_agents.models.point_mass import PointMassModel
from wmplan_agents.models.pretrained import load_pretrained
from wmplan_agents.models.pusht_physics import PushTPhysicsModel
from wmplan_agents.models.reader import StateReaderModel

__all__ = [
    "HELM",
    "AngleFeatureDynamics",
    "ContrastiveEncoder",
    "ConvStateWorldModel",
    "ConvWorldModel",
    "EnergyMLP",
    "GroundTruthModel",
    "HELMPlanningModel",
    "KeypointWorldModel",
    "LatentStateDynamics",
    "MLPDynamics",
    "PaDModel",
    "PointMassModel",
    "PushTPhysicsModel",
    "StateReaderModel",
    "ground_truth",
    "load_pretrained",
]
