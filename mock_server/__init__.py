"""Faithful offline fake of the ElevenLabs Scribe v2 Realtime server (see README, "Mock server").

``with MockServer(**settings) as server:`` runs it on a background thread; ``scribe-mock`` (or
``python -m mock_server``) runs it from the command line; the pytest plugin gives tests a
``scribe_mock`` fixture.
"""

from .faults import FAULTS, Fault, RandomFaults
from .journal import JournalFrame, SessionRecord
from .scenarios import Delay, Scenario, load_scenario
from .script import Utterance
from .server import MockServer
from .settings import Settings
from .transcriber import LEXICON

__all__ = [
    "FAULTS",
    "LEXICON",
    "Delay",
    "Fault",
    "JournalFrame",
    "MockServer",
    "RandomFaults",
    "Scenario",
    "SessionRecord",
    "Settings",
    "Utterance",
    "load_scenario",
]
