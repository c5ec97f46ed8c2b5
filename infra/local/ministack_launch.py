"""Start MiniStack with the SAM translator visible to it alone.

The translator (and its pydantic) lives in a folder of its own that is added to
MiniStack's sys.path here, not to PYTHONPATH, so the Lambda workers MiniStack
starts cannot import it: a package missing from the layer fails locally as it
would on AWS.
"""

import os
import sys

sys.path.append(os.environ["MINISTACK_SAMTX"])

from ministack.app import main

main()
