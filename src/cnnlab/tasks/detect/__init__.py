"""Object detection: FCOS on any zoo backbone, NMS, COCO-exact evaluation, COCO/YOLO readers and the
built-in ``det-sample``. See docs/detection.md."""
