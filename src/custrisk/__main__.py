"""``python -m custrisk``."""

from custrisk.cli import main

if __name__ == "__main__":
    main()
