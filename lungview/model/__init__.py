"""The classifier: architecture, model card, loading/prediction, training and evaluation.

Only ``card`` is free of TensorFlow; everything else imports it lazily at use.
"""
