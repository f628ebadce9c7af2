"""Web app for the news archive: `python app.py [--index DIR] [--port 7860] [--auth USER:PASSWORD]`.

The app itself lives in `rag.web` (so the installed `rag serve` command runs the same).
"""

import sys

from rag.web.app import main

if __name__ == "__main__":
    sys.exit(main())
