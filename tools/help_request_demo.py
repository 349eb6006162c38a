"""Ms Wan's Saturday, end to end (see linli_notification/story.py):

    .venv/bin/python tools/help_request_demo.py
"""

import sys

from linli_notification.story import main

if __name__ == "__main__":
    sys.exit(main())
