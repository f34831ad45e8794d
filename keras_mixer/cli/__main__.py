"""`python -m keras_mixer.cli`: the `keras-mixer` command."""

import sys

from keras_mixer.cli import main

sys.exit(main())
