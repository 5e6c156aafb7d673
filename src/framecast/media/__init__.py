"""Images and video: decode, check and fit input images (``images.py``), encode MP4 and PNG
outputs (``video.py``), the watermark (``watermark.py``) and thumbnails (``thumbnail.py``).

Owns: pixels and containers. May import: ``core`` only.
"""
