"""A whole study, end to end: the validated config, the stages on a store, caching, exports."""

from platonic.study.config import ConfigError, StudyConfig, load_config, make_config
from platonic.study.pipeline import StudyResult, open_study, run_study

__all__ = ["ConfigError", "StudyConfig", "StudyResult", "load_config", "make_config", "open_study", "run_study"]
