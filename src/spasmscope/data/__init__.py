"""Data in: manifests, video decoding, segments and windows, preprocessing, the infant localiser, the segment cache,
and video characteristics."""
