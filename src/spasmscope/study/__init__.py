"""The study (METHOD §5-7, §9): child-level folds, fine-tuning, cross-validation, the final model, external
evaluation, metrics, Table 1, factor analysis, reports, and the demo."""
