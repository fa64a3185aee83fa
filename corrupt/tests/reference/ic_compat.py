"""Import imagecorruptions 1.1.2 on a current numpy / scipy / scikit-image.

imagecorruptions 1.1.2 uses np.float_ (gone in numpy 2), scipy.ndimage.interpolation
(gone in scipy 1.14) and skimage gaussian(..., multichannel=True) (gone in
scikit-image 0.19); these shims restore them without changing any result.
"""
import sys

import numpy as np

np.float_ = np.float64
import scipy.ndimage  # noqa: E402

sys.modules["scipy.ndimage.interpolation"] = scipy.ndimage
import skimage.filters  # noqa: E402

_gaussian = skimage.filters.gaussian


def gaussian(image, sigma=1, *args, multichannel=None, **kw):
    if multichannel:
        kw["channel_axis"] = -1
    return _gaussian(image, sigma, *args, **kw)


skimage.filters.gaussian = gaussian
import imagecorruptions  # noqa: E402
import imagecorruptions.corruptions as icc  # noqa: E402

icc.gaussian = gaussian
