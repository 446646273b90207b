"""Pretraining a backbone before fine-tuning: supervised on synthetic clips drawn on the fly, or masked
autoencoding on a unit's own unlabeled recordings."""
