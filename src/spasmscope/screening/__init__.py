"""Screening recordings (METHOD §6 event level): scoring windows, detections, event-level scoring, reports."""
