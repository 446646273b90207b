"""Review: a clinician's decisions on flagged moments, stored as data and exported for training and scoring."""
