import sys

from webhook.cli.main import main

if __name__ == "__main__":  # not when a worker process (serve --workers) imports it
    sys.exit(main())
