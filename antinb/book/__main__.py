"""``python -m antinb.book build``: build the book (see :mod:`antinb.book.builder`)."""

import sys

from .builder import main

sys.exit(main())
