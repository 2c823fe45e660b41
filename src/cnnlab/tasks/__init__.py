"""Tasks beyond classification built on the zoo's backbones (``anomaly/``: defect detection)."""
