"""hccfusion: multimodal prognosis workflow for unresectable hepatocellular carcinoma."""

__version__ = "0.1.0"
