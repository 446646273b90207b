"""The files a spasmscope model folder holds, by name. Kept apart from ``weights`` so that what only reads a
folder's files (``benchmarks/backbone_step.py``, run before every pretraining stage) does not wait for torch."""

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
