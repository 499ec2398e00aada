"""Session-based next-item recommendation: sessions from event logs, an RNN, honest baselines."""

from .baselines import BASELINES, Popularity, SequentialRules, SessionKNN, SessionPopularity
from .config import RecommendConfig
from .data import (
    ItemVocabulary,
    Sessions,
    build_sessions,
    load_online_retail,
    online_retail_config,
    read_events,
    time_split,
)
from .model import SessionRNN
from .task import Recommender

__all__ = [
    "BASELINES",
    "ItemVocabulary",
    "Popularity",
    "RecommendConfig",
    "Recommender",
    "SequentialRules",
    "SessionKNN",
    "SessionPopularity",
    "SessionRNN",
    "Sessions",
    "build_sessions",
    "load_online_retail",
    "online_retail_config",
    "read_events",
    "time_split",
]
