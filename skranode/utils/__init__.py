"""Internal helpers shared by the skranode estimators."""
