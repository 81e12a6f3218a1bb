"""engage: get your social media back from autobot mode."""

__version__ = "0.1.0"
