"""The model: the Hiera video transformer, run configuration, weights in and out, scoring, and the pieces every
training loop shares."""
