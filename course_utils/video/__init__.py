"""Video understanding (chapter 12), in NumPy and PyTorch: 3D convolution in the layer API, I3D
inflation of 2D weights, frame differences and two-stream inputs (conv3d.py); single-frame,
late- and early-fusion, 3D, two-stream and recurrent-convolutional classifiers of generated
clips (models.py), joint and factorised space-time transformers (space_time.py), and their
comparison with the lecture's cost table (experiments.py); temporal action localisation
(localization.py); what a video model wants and where it looks (visualization.py); and a clip
player widget (clip_player.py). The clips come from course_utils.synthetic.clips."""
