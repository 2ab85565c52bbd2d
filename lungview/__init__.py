"""lungview: a lung CT viewer with an explainable classifier (research use only).

This module holds the version only. Importing ``lungview`` must stay cheap: it imports
neither Qt nor TensorFlow (a test checks this).
"""

__version__ = "0.1.0"
