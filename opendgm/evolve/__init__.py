"""Evolution: the campaign loop, parent selectors and operators."""

from opendgm.evolve import prompt_campaign
from opendgm.evolve.campaign import open_campaign
from opendgm.evolve.config import CampaignConfig, ConfigProblem, load_any
from opendgm.evolve.prompt_campaign import Report
from opendgm.usage import EXIT_INFRA, EXIT_LIMIT, EXIT_USAGE, StopNow

__all__ = [
    "EXIT_INFRA",
    "EXIT_LIMIT",
    "EXIT_USAGE",
    "CampaignConfig",
    "ConfigProblem",
    "Report",
    "StopNow",
    "load_any",
    "open_campaign",
    "prompt_campaign",
]
