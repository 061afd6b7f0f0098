"""fund-risk-monitor: early warning for medical-insurance funds."""

__version__ = "0.1.0"
