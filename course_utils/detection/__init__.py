"""Detection and segmentation (chapter 9): box operations, anchors and matching, RoI pooling,
upsampling layers for segmentation, detectors and segmentation networks, and their metrics."""
